# This example requires the following dependencies to be installed:
# pip install midway_plugin-0.1.0-py3-none-any.whl   (the built wheel; brings lightly, timm and decord)
#
# Midway Network (Hoang & Ren, ICLR 2026): self-supervised pretraining on frame pairs of video, with latent
# dynamics (a midway path infers motion latents between two frames, a gated forward predictor predicts the target
# frame's features from the source's) plus DINO on crops of both frames.
#
# Make a folder of video first (or point --data at your own folder of .mp4 files):
#   midway make-video --out video --num-videos 8 --size 64x64
#   python midway.py --data video/videos
#
# Note: The model and training settings do not follow the reference settings from the paper. The settings are
# chosen such that the example runs on a CPU in minutes: the `tiny` preset (4 blocks, width 48, patch 8) at 32 px.
# For the paper's model use MidwayConfig.vit_small() with 224 px crops (MidwayTransform()), a head of 65536
# prototypes and `midway pretrain --config configs/pretrain/midway_vit-s16_bdd100k.yaml`.
import argparse

import torch
from lightly.models.modules import DINOProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import nn

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.views import MidwayTransform, unpack_batch
from midway_plugin.lightly import DINOPairLoss
from midway_plugin.models import MidwayConfig, MidwayNetwork


class Midway(nn.Module):
    def __init__(self, config: MidwayConfig, output_dim: int = 1024) -> None:
        super().__init__()
        # Student encoder, backward layers, midway path, forward predictors and their EMA teacher.
        self.network = MidwayNetwork(config, with_teacher=True)
        head = dict(
            input_dim=self.network.encoder.embed_dim,
            hidden_dim=256,
            bottleneck_dim=64,
            output_dim=output_dim,
            batch_norm=False,
            norm_last_layer=False,
        )
        self.student_head = DINOProjectionHead(**head, freeze_last_layer=1)
        self.teacher_head = DINOProjectionHead(**head)
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        deactivate_requires_grad(self.teacher_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.encoder.forward_cls(x)

    def update_teachers(self, momentum: float) -> None:
        self.network.update_teacher(momentum)
        update_momentum(self.student_head, self.teacher_head, m=momentum)

    def dino_outputs(self, globals_: list[torch.Tensor], locals_: list[torch.Tensor]):
        with torch.no_grad():
            teacher = self.teacher_head(self.network.teacher_encoder.forward_cls(torch.cat(globals_)))
        student = [
            self.student_head(self.network.encoder.forward_cls(torch.cat(views)))
            for views in (globals_, locals_)
            if views
        ]
        return teacher.chunk(len(globals_)), torch.cat(student).chunk(len(globals_) + len(locals_))


parser = argparse.ArgumentParser(description="Midway pretraining on a folder of video, a plain PyTorch loop.")
parser.add_argument("--data", default="video/videos", help="folder of videos (searched recursively)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--num-workers", type=int, default=2)
args = parser.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
model = Midway(MidwayConfig.tiny()).to(device)

# Two frames 1-3 frames apart per video; each gives two motion crops, 2 global and 2 local DINO crops per frame.
transform = MidwayTransform.small(crop_size=32, local_crop_size=16, n_local_views=2)
dataset = VideoPairDataset(args.data, transform=transform, delta_t=(1, 3), repeat=1)
dataloader = torch.utils.data.DataLoader(
    dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.num_workers
)

criterion = DINOPairLoss(output_dim=1024, teacher_temp=0.04).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.04)

steps = args.epochs * len(dataloader)
print(f"Starting training on {len(dataset)} videos")
for epoch in range(args.epochs):
    total_loss = 0.0
    for step, batch in enumerate(dataloader):
        global_step = epoch * len(dataloader) + step
        if args.max_steps is not None and global_step >= args.max_steps:
            break
        views = unpack_batch(batch)
        model.update_teachers(cosine_schedule(global_step, steps, 0.996, 1))
        globals_ = [v.to(device) for v in views.globals_]
        locals_ = [v.to(device) for v in views.locals_]
        teacher_out, student_out = model.dino_outputs(globals_, locals_)
        dino_loss = criterion(teacher_out, student_out)
        # Dense forward prediction between the two frames' motion crops (both orderings), against the teacher.
        dynamics_loss = model.network(views.motion[0].to(device), views.motion[1].to(device)).loss
        loss = dino_loss + dynamics_loss
        total_loss += loss.detach()
        loss.backward()
        # Freeze the last layer of the student head in the first epoch, as DINO does.
        model.student_head.cancel_last_layer_gradients(current_epoch=epoch)
        optimizer.step()
        optimizer.zero_grad()
        print(
            f"step {global_step}: loss {loss.item():.4f} (dino {dino_loss.item():.4f}, "
            f"dynamics {dynamics_loss.item():.4f})"
        )
    print(f"epoch: {epoch:>02}, loss: {total_loss / len(dataloader):.5f}")
    if args.max_steps is not None and (epoch + 1) * len(dataloader) >= args.max_steps:
        break
