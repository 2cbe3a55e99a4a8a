# Follows okotaku/kaggle_toxic_comment_classification, solution2/model/bidgru_mp.py (rewritten here, same layers and idioms).
# sizes: maxlen=100 max_features=20000 embed_size=300
from keras.layers import GRU, Bidirectional, Dense, Dropout, Embedding, GlobalMaxPooling1D, Input
from keras.models import Model


def BidGru(maxlen, max_features, embed_size, embedding_matrix=None):
    inp = Input(shape=(maxlen,))
    x = Embedding(max_features, embed_size, trainable=False)(inp)
    x = Bidirectional(GRU(300, return_sequences=True, dropout=0.25, recurrent_dropout=0.25))(x)
    x = Bidirectional(GRU(300, return_sequences=True, dropout=0.25, recurrent_dropout=0.25))(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(256, activation="relu")(x)
    x = Dropout(0.25)(x)
    x = Dense(6, activation="sigmoid")(x)
    return Model(inputs=inp, outputs=x)
