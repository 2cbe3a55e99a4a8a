# Follows okotaku/kaggle_toxic_comment_classification, solution2/model/gru2l.py (rewritten here, same layers and idioms).
# sizes: maxlen=100 max_features=20000 embed_size=300
# partial: unsupported-layer
from keras.layers import GRU, Dense, Dropout, Embedding, Input
from keras.models import Model


def Gru(maxlen, max_features, embed_size):
    inp = Input(shape=(maxlen,))
    x = Embedding(max_features, embed_size, trainable=False)(inp)
    x = GRU(300, return_sequences=True, dropout=0.25, recurrent_dropout=0.25)(x)
    x = GRU(300, return_sequences=True, dropout=0.25, recurrent_dropout=0.25)(x)
    x = Attention(maxlen)(x)
    x = Dense(256, activation="relu")(x)
    x = Dropout(0.25)(x)
    x = Dense(6, activation="sigmoid")(x)
    return Model(inputs=inp, outputs=x)
