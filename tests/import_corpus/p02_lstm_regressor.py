# Follows alduin0/deep-security, src/class_model_lstm.py (rewritten here, same layers and idioms).
# sizes: input_size=8 hidden_size=64 num_layers=2 output_size=1 seq_len=30
import torch


class LSTMModel(torch.nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, output_size, dropout=0.2):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout)
        self.linear = torch.nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.linear(out[:, -1, :])
