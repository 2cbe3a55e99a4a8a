# Follows litpuvn/self-boosted-ts, learning-examples/cnn_lstm.py (rewritten here, same layers and idioms).
# sizes: features=12
# partial: unsupported-layer
from keras.layers import LSTM, Conv1D, Dense, Flatten, MaxPooling1D, TimeDistributed
from keras.models import Sequential

model = Sequential()
model.add(TimeDistributed(Conv1D(filters=5, kernel_size=3, activation="relu"), batch_input_shape=(24, None, 24, 1)))
model.add(TimeDistributed(MaxPooling1D(pool_size=2)))
model.add(TimeDistributed(Flatten()))
model.add(LSTM(50, stateful=True, return_sequences=True))
model.add(LSTM(10, stateful=True, return_sequences=True))
model.add(Dense(24))
