# Follows ryanklewis/Money_Printers, models/lstm.py (rewritten here, same layers and idioms).
# sizes: input_size=5 hidden_size=128 num_layers=2 output_size=1 seq_len=60
import torch.nn as nn


class LSTMModel(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, output_size, dropout_rate=0.2):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout_rate)
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        lstm_out, (h_n, c_n) = self.lstm(x)
        return self.fc(self.dropout(lstm_out[:, -1, :]))
