# Follows thomashuan88/python_ml, time_series_univariate.py (rewritten here, same layers and idioms).
from keras.layers import Conv1D, Dense, Flatten, MaxPooling1D
from keras.models import Sequential

n_steps, n_features = 3, 1
model = Sequential()
model.add(Conv1D(filters=64, kernel_size=2, activation="relu", input_shape=(n_steps, n_features)))
model.add(MaxPooling1D(pool_size=2))
model.add(Flatten())
model.add(Dense(50, activation="relu"))
model.add(Dense(1))
