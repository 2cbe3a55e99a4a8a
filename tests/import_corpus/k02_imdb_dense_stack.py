# Follows mdanie2/221Project, othlstm.py (rewritten here, same layers and idioms).
from keras.layers import LSTM, Dense, Dropout, Embedding
from keras.models import Sequential

vocabulary = 1000
model = Sequential()
model.add(Embedding(vocabulary, 50, input_length=200))
model.add(Dropout(0.2))
model.add(LSTM(100, dropout=0.2, recurrent_dropout=0.2))
model.add(Dense(250, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(1, activation="sigmoid"))
