# Follows okotaku/kaggle_toxic_comment_classification, solution2/model/bid_lstm.py (rewritten here, same layers and idioms).
# sizes: maxlen=100 max_features=20000
from keras.layers import LSTM, Bidirectional, Dense, Dropout, Embedding, GlobalMaxPool1D, Input
from keras.models import Model


def BidLstm(maxlen, max_features):
    inp = Input(shape=(maxlen,))
    x = Embedding(max_features, 128)(inp)
    x = Bidirectional(LSTM(50, return_sequences=True))(x)
    x = GlobalMaxPool1D()(x)
    x = Dropout(0.3)(x)
    x = Dense(50, activation="relu")(x)
    x = Dropout(0.3)(x)
    x = Dense(6, activation="sigmoid")(x)
    return Model(inputs=inp, outputs=x)
