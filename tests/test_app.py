"""The page driven headless with AppTest: every building action changes the graph and the summary."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.edit import add_layer
from explorer.presets import PRESETS, load_preset
from explorer.share import decode, encode

from helpers import ASSETS, drawn_graph, shown

APP = str(ASSETS.parent / "app.py")
BROKEN = next(name for name in PRESETS if name.startswith("Teaching"))


def summary(at: AppTest) -> list[dict]:
    return at.table[0].value.to_dict("records")


def layer_titles(at: AppTest) -> list[str]:
    return [row["Layer"] for row in summary(at)][:-1]


def test_default_page_shows_the_tutorial(app: AppTest) -> None:
    assert "(batch=4, time=20, features=64)" in drawn_graph(app)
    assert layer_titles(app) == ["LSTM(64, return_sequences)", "GRU(32)", "Dense(5, softmax)"]
    total = summary(app)[-1]
    assert (total["Params PyTorch"], total["Params Keras"]) == ("29,029", "28,773")  # as the graph writes them
    (formulas,) = [
        m.value for m in next(e for e in app.expander if e.label.startswith("How the parameters")).markdown
    ]  # how they add up, where the two frameworks part
    assert "\n\n1. `LSTM(64, return_sequences)`: 4 gates (i, f, g, o) × (64×10 + 64×64 + b×64); " in formulas
    assert formulas.endswith("\n\n3. `Dense(5, softmax)`: 32×5 weights + 5 biases, in both: 165")
    assert not app.error
    assert "nn.LSTM(10, 64, batch_first=True)" in app.code[0].value


def test_adding_a_layer_keeps_a_working_stack_working_and_says_what_changed(app: AppTest) -> None:
    app.selectbox(key="new_layer_type").set_value("RNN")
    app.button(key="add_layer").click().run()
    assert layer_titles(app) == ["LSTM(64, return_sequences)", "GRU(32, return_sequences)", "RNN(32)",
                                 "Dense(5, softmax)"]  # fmt: skip
    assert "needs a sequence" not in drawn_graph(app) and not app.error
    (notice,) = [text for text in shown(app.toast) if "Added RNN as layer 3." in text]
    assert "Layer 2 now hands on its whole sequence (return_sequences)" in notice
    app.toggle(key="layer1.return_sequences").set_value(False).run()  # undone by hand: the classic mistake
    assert "#d62728" in drawn_graph(app) and "needs a sequence" in drawn_graph(app)
    assert any("layer 3 (RNN) needs a sequence" in text for text in shown(app.error))


@pytest.mark.parametrize("name", [n for n in PRESETS if all(layer.kind in ("LSTM", "GRU", "RNN")
                                                             for layer in load_preset(n).layers)])  # fmt: skip
def test_inserting_or_appending_a_layer_keeps_every_valid_recurrent_preset_valid(name: str) -> None:
    arch = load_preset(name)
    if not analyze(arch).valid:
        return  # the broken teaching stack starts broken
    for kind in ("LSTM", "GRU", "RNN"):
        for position in range(len(arch.layers) + 1):
            grown = add_layer(arch, position, kind)
            assert analyze(grown).valid, (name, kind, position, [d.message for d in analyze(grown).errors])


def test_toggling_return_sequences_changes_the_edge_shape(app: AppTest) -> None:
    before = drawn_graph(app)
    assert "(batch=4, features=32)" in before and "last step only" in before
    app.toggle(key="layer1.return_sequences").set_value(True).run()
    after = drawn_graph(app)
    assert "(batch=4, time=20, features=32)" in after and "(batch=4, time=20, features=5)" in after
    assert summary(app)[2]["Output shape"] == "(batch=4, time=20, features=5)"


def test_units_bidirectional_num_layers_and_dropout_redraw_everything(app: AppTest) -> None:
    app.number_input(key="layer0.units").set_value(16).run()
    assert summary(app)[0]["Params PyTorch"] == f"{4 * (16 * 10 + 16 * 16 + 2 * 16):,}"
    app.toggle(key="layer0.bidirectional").set_value(True).run()
    assert "(batch=4, time=20, features=32)" in drawn_graph(app) and "⇄" in drawn_graph(app)
    app.number_input(key="layer0.num_layers").set_value(2).run()
    assert "2 layers stacked inside" in drawn_graph(app)
    app.number_input(key="layer0.dropout").set_value(0.25).run()
    assert summary(app)[0]["Layer"] == "LSTM(16, return_sequences, bidirectional, num_layers=2, dropout=0.25)"
    app.selectbox(key="layer1.type").set_value("LSTM").run()
    assert summary(app)[1]["Layer"] == "LSTM(32)"


def test_remove_duplicate_and_move(app: AppTest) -> None:
    app.button(key="layer0.duplicate").click().run()
    assert layer_titles(app)[:3] == ["LSTM(64, return_sequences)"] * 2 + ["GRU(32)"]
    assert "cluster_run1" in drawn_graph(app)  # identical sequence-passing layers are drawn as one fused module
    app.button(key="layer0.remove").click().run()
    assert layer_titles(app)[:2] == ["LSTM(64, return_sequences)", "GRU(32)"]
    app.button(key="layer1.up").click().run()
    assert layer_titles(app)[:2] == ["GRU(32)", "LSTM(64, return_sequences)"]
    assert app.toggle(key="layer0.return_sequences").value is False  # widgets follow their layer
    app.button(key="layer0.down").click().run()
    assert layer_titles(app)[:2] == ["LSTM(64, return_sequences)", "GRU(32)"]
    app.button(key="layer0.insert").click().run()
    assert layer_titles(app)[1] == "LSTM(64, return_sequences)"  # it hands the GRU after it a sequence


def test_input_and_head_settings(app: AppTest) -> None:
    app.number_input(key="input.features").set_value(3).run()
    assert "features=3" in drawn_graph(app)
    app.checkbox(key="input.variable").check().run()
    assert "(batch=4, time, features=3)" in drawn_graph(app)
    app.checkbox(key="input.open_batch").check().run()
    assert "(batch, time, features=3)" in drawn_graph(app)
    app.selectbox(key="head.activation").set_value("none").run()
    assert summary(app)[-2]["Layer"] == "Dense(5)"
    app.checkbox(key="head.on").uncheck().run()
    assert layer_titles(app) == ["LSTM(64, return_sequences)", "GRU(32)"]


def test_broken_preset_shows_the_error_and_fix_repairs_it(app: AppTest) -> None:
    app.selectbox(key="preset").set_value(BROKEN)
    app.button(key="load_preset").click().run()
    assert any("layer 3 (LSTM) needs a sequence" in text for text in shown(app.error))
    assert "Fix the errors above" in app.info[0].value
    app.button(key="fix0").click().run()
    assert not app.error
    assert app.toggle(key="layer1.return_sequences").value is True
    assert "#d62728" not in drawn_graph(app)


def test_unrolled_view_and_states(app: AppTest) -> None:
    app.toggle(key="view.states").set_value(True).run()
    assert "h_n (layers*directions=1, batch=4, units=64)" in drawn_graph(app)
    app.toggle(key="view.unrolled").set_value(True).run()
    assert "x20" in drawn_graph(app) and "h2 t20" in drawn_graph(app)


def test_url_round_trip_restores_the_architecture(app: AppTest) -> None:
    app.number_input(key="layer0.units").set_value(48).run()
    link = app.query_params["a"]
    link = link[0] if isinstance(link, list) else link
    other = AppTest.from_file(APP, default_timeout=30)
    other.query_params["a"] = link
    other.run()
    assert layer_titles(other)[0] == "LSTM(48, return_sequences)"
    assert drawn_graph(other) == drawn_graph(app)


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("garbage!!", "link is damaged"),
        ("x" * 9000, "more than 8,000"),
        (encode(load_preset(BROKEN)).replace("e", "f", 3), "damaged"),
    ],
)
def test_a_bad_link_keeps_the_default_with_a_message(link: str, message: str) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["a"] = link
    at.run()
    assert not at.exception
    assert any(message in text for text in shown(at.error))
    assert layer_titles(at) == ["LSTM(64, return_sequences)", "GRU(32)", "Dense(5, softmax)"]


def test_a_link_over_the_limits_is_refused() -> None:
    huge = {"input": {"features": 10}, "layers": [{"type": "LSTM", "units": 100_000}]}  # units up to 65,536
    link = base64.urlsafe_b64encode(zlib.compress(json.dumps(huge).encode())).decode()
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["a"] = link
    at.run()
    assert any(
        "layers[0].units must be an integer from 1 to 65536, received 100000" in text for text in shown(at.error)
    )
    assert layer_titles(at)[0] == "LSTM(64, return_sequences)"


def test_every_preset_renders_without_exception(app: AppTest) -> None:
    for name in PRESETS:
        app.selectbox(key="preset").set_value(name)
        app.button(key="load_preset").click().run()
        assert not app.exception
        assert len(layer_titles(app)) == len(load_preset(name).stack)
    shown_kinds = [row["Layer"].split("(")[0] for row in summary(app)[:-1]]  # the last preset loaded, all of it
    assert shown_kinds == [layer.kind for layer in load_preset(name).stack]


def test_the_three_tutorials_are_presets_and_export_as_written(app: AppTest) -> None:
    tutorials = [name for name in PRESETS if name.startswith("Tutorial")]
    expected = [
        'layers.Dense(5, activation="softmax")',  # 1. Keras
        "x = x[:, -1, :]  # (batch=4, features=32)",  # 2. PyTorch, stacked by hand
        "self.lstm1 = nn.LSTM(10, 64, num_layers=2, batch_first=True)",  # 3. PyTorch, num_layers=2
    ]
    for name, line in zip(tutorials, expected, strict=True):
        app.selectbox(key="preset").set_value(name)
        app.button(key="load_preset").click().run()
        assert any(line in block.value for block in app.code), name


def test_without_a_graphviz_program_the_browser_lays_the_graph_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_DOT", "")
    at = AppTest.from_file(APP, default_timeout=30).run()
    (chart,) = at.get("graphviz_chart")
    assert "(batch=4, time=20, features=64)" in chart.proto.spec
    assert not [m for m in at.markdown if "<svg" in m.value]


def test_a_layer_of_any_kind_is_edited_through_its_own_fields(app: AppTest) -> None:
    app.selectbox(key="preset").set_value("Text classifier: Embedding → bidirectional LSTM → GlobalMaxPool → Dense")
    app.button(key="load_preset").click().run()
    assert app.checkbox(key="input.tokens").value is True and app.number_input(key="input.features").disabled
    assert layer_titles(app)[:3] == [
        "Embedding(5000, 32)",
        "LSTM(32, return_sequences, bidirectional)",
        "GlobalMaxPool1D",
    ]
    app.number_input(key="layer0.vocab").set_value(300).run()
    assert summary(app)[0]["Params PyTorch"] == f"{300 * 32:,}"
    app.selectbox(key="layer3.activation").set_value("gelu").run()
    assert layer_titles(app)[3] == "Dense(16, gelu)"
    app.checkbox(key="input.tokens").set_value(False).run()  # real-valued features into an Embedding
    assert any("layer 1 (Embedding) reads token ids" in text for text in shown(app.error))
    app.button(key="fix0").click().run()
    assert app.checkbox(key="input.tokens").value is True
    assert not [text for text in shown(app.error) if "Task 'classify'" not in text]  # the Train tab's task: other data


def test_the_grouped_picker_adds_any_kind(app: AppTest) -> None:
    options = app.selectbox(key="new_layer_type").options
    assert "Convolution and pooling · Conv1D" in options and "Reshape · RepeatVector" in options
    app.selectbox(key="new_layer_type").set_value("Regularisation · Dropout")
    app.button(key="layer0.insert").click().run()
    assert layer_titles(app)[:2] == ["LSTM(64, return_sequences)", "Dropout(0.2)"]
    assert not app.error


def test_the_head_can_go_without_its_bias(app: AppTest) -> None:
    app.checkbox(key="head.bias").set_value(False).run()
    assert layer_titles(app)[-1] == "Dense(5, softmax, no bias)"
    assert summary(app)[-2]["Params PyTorch"] == f"{32 * 5:,}"


def test_a_token_model_opens_the_train_tab_on_the_token_task() -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["a"] = encode(
        load_preset("Text classifier: Embedding → bidirectional LSTM → GlobalMaxPool → Dense")
    )
    at.run()
    assert at.selectbox(key="train.task").value == "tokens"
    assert any("Task 'tokens'" in text and "Dense(4, softmax)" in text for text in shown(at.error))  # and its Fix


def test_pasted_code_is_imported_once_its_open_sizes_are_answered(app: AppTest) -> None:
    code = (
        "from keras import layers, Sequential\n"
        "model = Sequential([layers.LSTM(units, input_shape=(30, 3), return_sequences=True),\n"
        "                    layers.SpatialDropout1D(0.1), layers.GRU(8), layers.Dense(2)])\n"
    )
    app.text_area(key="source.text").set_value(code)
    app.button(key="source.import").click().run()
    assert any("The code leaves these open: units" in text for text in shown(app.info))
    assert layer_titles(app)[0] == "LSTM(64, return_sequences)"  # nothing changed yet
    app.text_input(key="source.value0").set_value("48").run()
    app.button(key="source.import").click().run()
    assert layer_titles(app) == ["LSTM(48, return_sequences)", "GRU(8)", "Dense(2)"]
    (notice,) = [text for text in shown(app.toast) if "Imported model (keras)" in text]
    assert "line 3: SpatialDropout1D is not in the layer catalogue" in notice
    link = app.query_params["a"]
    assert decode(link[0] if isinstance(link, list) else link).layers[0].units == 48  # the link holds it too


def test_code_that_cannot_be_read_keeps_the_architecture(app: AppTest) -> None:
    app.text_area(key="source.text").set_value("class Net(nn.Module:\n    pass\n")
    app.button(key="source.import").click().run()
    assert any("not valid Python: line 1" in text for text in shown(app.error))
    assert layer_titles(app)[0] == "LSTM(64, return_sequences)"


def test_a_pasted_error_message_is_explained_beside_the_diagnostics(app: AppTest) -> None:
    app.text_area(key="explain.text").set_value(
        "RuntimeError: input.size(-1) must be equal to input_size. Expected 32, got 64"
    )
    app.button(key="explain.go").click().run()
    (text,) = [t for t in shown(app.warning) if "Layer 2" in t]
    assert "handed 64" in text and "**Fix:** Build it with input_size=64" in text
    app.text_area(key="explain.text").set_value("[log in](http://phish.example) something else").run()
    app.button(key="explain.go").click().run()
    assert any("not one the explorer recognises" in t for t in shown(app.info))


def test_a_source_with_several_models_offers_them_and_imports_the_one_picked(app: AppTest) -> None:
    code = (
        "from keras import layers, Sequential\n"
        "small = Sequential([layers.GRU(8, input_shape=(20, 10)), layers.Dense(2)])\n"
        "large = Sequential([layers.LSTM(32, input_shape=(20, 10)), layers.Dense(2)])\n"
    )
    app.text_area(key="source.text").set_value(code)
    app.button(key="source.import").click().run()
    assert layer_titles(app)[0] == "LSTM(32)"  # the last one defined
    assert app.selectbox(key="source.model").options == ["small", "large"]
    app.selectbox(key="source.model").set_value("small").run()
    app.button(key="source.import").click().run()
    assert layer_titles(app)[0] == "GRU(8)"


def test_names_from_pasted_code_are_shown_as_typed(app: AppTest) -> None:
    hostile = "cfg['[x](http://evil.example) <img src=x>']"
    code = f"from keras import layers, Sequential\nmodel = Sequential([layers.LSTM({hostile}, input_shape=(5, 2))])\n"
    app.text_area(key="source.text").set_value(code)
    app.button(key="source.import").click().run()
    (field,) = [w for w in app.text_input if w.key == "source.value0"]
    assert "\\[x\\]\\(http" in field.label  # a label renders markdown: escaped, it is not a link
    assert any(hostile in text.replace("\u2060", "") for text in shown(app.info))  # a word joiner breaks autolinks


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("layer0.units", 99_999, "units must be an integer from 1 to 65536, received 99999"),
        ("layer0.num_layers", 0, "num_layers must be an integer from 1 to 8, received 0"),
        ("input.batch", -3, "batch must be an integer from 1 to"),
    ],
)
def test_a_refused_value_is_said_in_words_next_to_its_field_and_the_last_good_value_stays(
    app: AppTest, key: str, value: int, said: str
) -> None:
    before = drawn_graph(app)
    app.number_input(key=key).set_value(value).run()
    (refusal,) = shown(app.error)
    assert said in refusal and "The last good value stays" in refusal
    assert drawn_graph(app) == before  # nothing changed
    assert app.number_input(key=key).value != value  # the box is put back to the value in place
    app.number_input(key="layer0.units").set_value(48).run()  # the next good change clears the message
    assert not app.error and "LSTM(48, return_sequences)" in drawn_graph(app)


def test_presentation_mode_comes_from_the_link_and_goes_into_it() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert at.toggle(key="present").value
    keys = {b.key for b in at.button}
    assert "layer0.units" in {n.key for n in at.number_input}  # the fields stay, condensed
    assert not {"layer0.up", "layer0.remove", "add_layer"} & keys
    at.toggle(key="present").set_value(False).run()
    assert "present" not in at.query_params and {"layer0.up", "add_layer"} <= {b.key for b in at.button}
    at.toggle(key="present").set_value(True).run()
    assert at.query_params["present"] == "1"  # the link the teacher shares
