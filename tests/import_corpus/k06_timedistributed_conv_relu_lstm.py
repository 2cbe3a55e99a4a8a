# Follows organwalk/lstm-study-and-template, study-code/cnn-lstm.py (rewritten here, same layers and idioms).
# sizes: features=12
# partial: unsupported-layer
from keras.layers import LSTM, Conv1D, Dense, Flatten, MaxPooling1D, TimeDistributed
from keras.models import Sequential

n_steps, n_features = 2, 1
model = Sequential()
model.add(TimeDistributed(Conv1D(filters=64, kernel_size=1, activation="relu"), input_shape=(None, n_steps, n_features)))
model.add(TimeDistributed(MaxPooling1D(pool_size=2)))
model.add(TimeDistributed(Flatten()))
model.add(LSTM(50, activation="relu"))
model.add(Dense(1))
