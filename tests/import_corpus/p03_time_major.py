# Follows PiotrowskiJakub/master-thesis, model.py (rewritten here, same layers and idioms).
# sizes: input_size=4 hidden_size=32 output_size=3 seq_len=50
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, 2)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, input_seq):
        output_seq, _ = self.lstm(input_seq)
        return self.linear(output_seq[-1])
