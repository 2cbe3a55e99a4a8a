# Follows wudangqibujie/jay_template, module/bi_lstm.py (rewritten here, same layers and idioms).
# sizes: nIn=512 nHidden=256 nOut=37 seq_len=26
import torch.nn as nn


class BiDeirectionalLSTM(nn.Module):
    def __init__(self, nIn, nHidden, nOut):
        super().__init__()
        self.rnn = nn.LSTM(nIn, nHidden, bidirectional=True)
        self.embedding = nn.Linear(nHidden * 2, nOut)

    def forward(self, x):
        recurrent, _ = self.rnn(x)
        return self.embedding(recurrent)
