"""A Streamlit session over the page's own websocket protocol, without a browser: what the page's JavaScript
sends and receives. The classroom test and benchmark drive many of them at once against the real server."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import ClientConnection, connect

TOGGLE = "return_sequences"


class Student:
    """One session driven over Streamlit's websocket protocol: what the page's JavaScript sends and receives."""

    def __init__(self, socket: ClientConnection, link: str, **params: str) -> None:
        self.socket = socket
        self.query = urlencode({"a": link, **params})  # the page's address: its architecture, and what else it holds
        self.widgets: dict[str, list[str]] = {}  # label → ids, in page order
        self.graph = ""
        self.texts: list[str] = []  # the last full run's markdown and alerts (captions, notes), in page order
        self.progress = ""  # the training status line, while the session has a run
        self.progress_value = 0.0
        self.poll: tuple[float, str] | None = None  # (interval, fragment id) the server asked to be rerun
        self.rerun()
        self.flag = False  # layer 2 starts without return_sequences in the default preset

    def rerun(self, *widgets: WidgetState, fragment: str = "") -> float:
        """Send a rerun request; read the rerun through; return the seconds until the graph (or, for a
        fragment, the end of the rerun) arrived."""
        message = BackMsg()
        message.rerun_script.query_string = self.query
        message.rerun_script.widget_states.widgets.extend(widgets)
        message.rerun_script.fragment_id = fragment
        message.rerun_script.is_auto_rerun = bool(fragment)
        start, graph_at, seen, texts, full = time.perf_counter(), None, {}, [], not fragment
        if full:  # as the page does: a full run cancels the fragment timers; its fragments set them again
            self.poll = None
        self.socket.send(message.SerializeToString())
        while True:
            reply = ForwardMsg.FromString(self.socket.recv(timeout=60))
            kind = reply.WhichOneof("type")
            if kind == "script_finished":
                if reply.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
                # st.rerun() (the live chart does it when a run ends): a full run follows; read it through too
                seen, texts, full, self.poll = {}, [], True, None
                continue
            if kind == "page_info_changed":  # the page wrote its address, as st.query_params does
                self.query = reply.page_info_changed.query_string
            elif kind == "auto_rerun":
                self.poll = (reply.auto_rerun.interval, reply.auto_rerun.fragment_id)
            elif kind == "stop_auto_rerun":
                self.poll = None
            if kind != "delta" or reply.delta.WhichOneof("type") != "new_element":
                continue
            element = reply.delta.new_element
            widget = getattr(element, element.WhichOneof("type"))
            if hasattr(widget, "id") and hasattr(widget, "label"):
                seen.setdefault(widget.label, []).append(widget.id)
            if element.WhichOneof("type") == "progress":
                self.progress, self.progress_value = element.progress.text, element.progress.value / 100
            elif element.WhichOneof("type") == "markdown" and 'class="dataflow"' in element.markdown.body:
                graph_at = time.perf_counter()
                self.graph = element.markdown.body
            elif element.WhichOneof("type") == "markdown":
                texts.append(element.markdown.body)
            elif element.WhichOneof("type") == "alert":  # st.info, st.error, ...
                texts.append(element.alert.body)
        if full:
            if graph_at is None:
                raise RuntimeError("the rerun sent no graph")
            self.widgets, self.texts = seen, texts
        return (graph_at or time.perf_counter()) - start

    def edit(self) -> float:
        """Flip layer 2's return_sequences, as a click on its toggle does; the graph must change."""
        before = self.graph
        self.flag = not self.flag
        seconds = self.rerun(WidgetState(id=self.widgets[TOGGLE][1], bool_value=self.flag))
        if self.graph == before:
            raise RuntimeError("the edit did not change the graph")
        return seconds

    def press(self, label: str, *widgets: WidgetState) -> None:
        self.rerun(*widgets, WidgetState(id=self.widgets[label][0], trigger_value=True))

    def train(self, steps: int) -> None:
        self.press("Train", WidgetState(id=self.widgets["Steps"][0], int_value=steps))
        if self.poll is None:
            raise RuntimeError(f"the training did not start: {self.progress or 'no progress shown'}")

    def wait_running(self, timeout: float = 120) -> None:
        """Poll until the run has reported its first steps."""
        deadline = time.monotonic() + timeout
        while "running" not in self.progress:
            if self.poll is None or time.monotonic() > deadline:
                raise RuntimeError(f"the training is not running: {self.progress or 'no progress shown'}")
            time.sleep(self.poll[0])
            self.rerun(fragment=self.poll[1])

    def watch(self, until: threading.Event) -> None:
        """Poll the live chart as the page's fragment timer does, until told to stop or the run ends."""
        while self.poll is not None and not until.wait(self.poll[0]):
            self.rerun(fragment=self.poll[1])


def open_socket(url: str) -> ClientConnection:
    """The websocket a Streamlit page opens to its server."""
    ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
    return connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None, open_timeout=60)
