"""Runs inside the llm-compressor virtualenv (started by ``llm_compressor_check.py``, not by pruneviz):
``oneshot`` of a dense model with a recipe pruneviz wrote, on the calibration windows pruneviz used.

    python llm_compressor_oneshot.py MODEL_DIR RECIPE CALIBRATION.pt OUT_DIR

Writes the pruned model to OUT_DIR and each Linear layer's fraction of zero weights to OUT_DIR/sparsity.json.
"""

import json
import sys
import time

import torch
from datasets import Dataset
from llmcompressor import oneshot
from transformers import AutoModelForCausalLM

model_dir, recipe, calibration, out = sys.argv[1:5]
windows = torch.load(calibration)
data = Dataset.from_dict({"input_ids": windows.tolist(), "attention_mask": torch.ones_like(windows).tolist()})
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
start = time.perf_counter()
oneshot(
    model=model,
    dataset=data,
    recipe=recipe,
    num_calibration_samples=len(windows),
    max_seq_length=windows.shape[1],
    output_dir=out,
)
seconds = time.perf_counter() - start
zeros = {
    n: float((m.weight == 0).float().mean())
    for n, m in model.named_modules()
    if isinstance(m, torch.nn.Linear)
}
with open(f"{out}/sparsity.json", "w") as f:
    json.dump({"seconds": seconds, "sparsity": zeros}, f, indent=1)
