# Follows kaliaanup/DeepLearning, sequence_to_sequence_autoencoder.py (rewritten here, same layers and idioms).
# sizes: timesteps=10 input_dim=3 latent_dim=16
from keras.layers import LSTM, Input, RepeatVector
from keras.models import Model

inputs = Input(shape=(timesteps, input_dim))
encoded = LSTM(latent_dim)(inputs)
decoded = RepeatVector(timesteps)(encoded)
decoded = LSTM(input_dim, return_sequences=True)(decoded)
sequence_autoencoder = Model(inputs, decoded)
