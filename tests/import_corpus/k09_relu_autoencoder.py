# Follows tusonggao/keras_learning, keras_autoencoder.py (rewritten here, same layers and idioms).
from keras.layers import LSTM, Dense, RepeatVector, TimeDistributed
from keras.models import Sequential

n_in = 9
model = Sequential()
model.add(LSTM(100, activation="relu", input_shape=(n_in, 1)))
model.add(RepeatVector(n_in))
model.add(LSTM(100, activation="relu", return_sequences=True))
model.add(TimeDistributed(Dense(1)))
