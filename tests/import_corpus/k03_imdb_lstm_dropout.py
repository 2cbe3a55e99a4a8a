# Follows bklybor/Assignment4, assign4_LSTM.py (rewritten here, same layers and idioms).
# sizes: seq_len=50
from keras.layers import LSTM, Dense, Embedding
from keras.models import Sequential

max_features, maxlen = 500, 50
model = Sequential()
model.add(Embedding(max_features, 128))
model.add(LSTM(128, dropout=0.2))
model.add(Dense(1, activation="sigmoid"))
