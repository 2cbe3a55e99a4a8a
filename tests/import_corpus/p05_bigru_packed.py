# Follows AaahWendy/GRU-LSTM-ON-IMDB, GRUmodel.py (rewritten here, same layers and idioms).
# sizes: vocab_size=25002 embedding_dim=100 hidden_dim=256 output_dim=1 n_layers=2 bidirectional=true dropout=0.5 pad_idx=1
import torch
import torch.nn as nn


class GRUNet(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, output_dim, n_layers, bidirectional, dropout, pad_idx):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.rnn = nn.GRU(embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=bidirectional,
                          batch_first=True, dropout=0 if n_layers < 2 else dropout)
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text, text_lengths):
        embedded = self.dropout(self.embedding(text))
        packed = nn.utils.rnn.pack_padded_sequence(embedded, text_lengths.to("cpu"), batch_first=True,
                                                   enforce_sorted=False)
        _, hidden = self.rnn(packed)
        hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
        return self.fc(hidden)
