# Follows LUIGUI55/commitss, python/tensorflow/lstm.py (rewritten here, same layers and idioms).
# sizes: seq_len=40
from tensorflow.keras.layers import LSTM, Dense, Embedding
from tensorflow.keras.models import Sequential

model = Sequential()
model.add(Embedding(input_dim=10000, output_dim=128))
model.add(LSTM(128, dropout=0.2, recurrent_dropout=0.2))
model.add(Dense(1, activation="sigmoid"))
