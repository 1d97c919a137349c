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
# Runs on every GPU of the machine with DDP (one process per GPU); add --num-nodes N under a cluster launcher.
# Without a GPU it runs DDP over --devices CPU processes (gloo).
#
# Note: The model and training settings do not follow the reference settings from the paper. The settings are
# chosen such that the example runs on a CPU in minutes: the `tiny` preset (4 blocks, width 48, patch 8) at 32 px.
# For the paper's model use MidwayConfig.vit_small() with 224 px crops (MidwayTransform()), a head of 65536
# prototypes and `midway pretrain --config configs/pretrain/midway_vit-s16_bdd100k.yaml`.
import argparse

import pytorch_lightning as pl
import torch
from lightly.models.modules import DINOProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.views import MidwayTransform, unpack_batch
from midway_plugin.lightly import DINOPairLoss
from midway_plugin.models import MidwayConfig, MidwayNetwork


class Midway(pl.LightningModule):
    def __init__(self, config: MidwayConfig, output_dim: int = 1024) -> None:
        super().__init__()
        self.criterion = DINOPairLoss(output_dim=output_dim, teacher_temp=0.04)
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

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        views = unpack_batch(batch)
        momentum = cosine_schedule(self.global_step, self.trainer.estimated_stepping_batches, 0.996, 1)
        self.update_teachers(momentum)
        teacher_out, student_out = self.dino_outputs(views.globals_, views.locals_)
        dino_loss = self.criterion(teacher_out, student_out)
        # Dense forward prediction between the two frames' motion crops (both orderings), against the teacher.
        dynamics_loss = self.network(views.motion[0], views.motion[1]).loss
        loss = dino_loss + dynamics_loss
        self.log_dict(
            {"train_loss": loss, "loss_dino": dino_loss, "loss_dynamics": dynamics_loss},
            prog_bar=True,
            batch_size=views.batch_size,
            sync_dist=True,
        )
        return loss

    def on_after_backward(self) -> None:
        # Freeze the last layer of the student head in the first epoch, as DINO does.
        self.student_head.cancel_last_layer_gradients(current_epoch=self.current_epoch)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=5e-4, weight_decay=0.04)


parser = argparse.ArgumentParser(description="Midway pretraining on a folder of video with DDP.")
parser.add_argument("--data", default="video/videos", help="folder of videos (searched recursively)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (smoke tests)")
parser.add_argument("--batch-size", type=int, default=8, help="batch size per device (process)")
parser.add_argument("--num-workers", type=int, default=2)
parser.add_argument("--devices", default="auto", help="GPUs (or CPU processes) to use")
parser.add_argument("--num-nodes", type=int, default=1)
args = parser.parse_args()

model = Midway(MidwayConfig.tiny())

# Two frames 1-3 frames apart per video; each gives two motion crops, 2 global and 2 local DINO crops per frame.
transform = MidwayTransform.small(crop_size=32, local_crop_size=16, n_local_views=2)
dataset = VideoPairDataset(args.data, transform=transform, delta_t=(1, 3), repeat=1)
dataloader = torch.utils.data.DataLoader(
    dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.num_workers
)

accelerator = "gpu" if torch.cuda.is_available() else "cpu"
# DDP: one process per device, gradients all-reduced; the DINO centre is all-reduced by DINOPairLoss. Lightning
# wraps the loader in a DistributedSampler, so each process reads its own share of the videos.
trainer = pl.Trainer(
    max_epochs=args.epochs,
    max_steps=args.max_steps,
    devices=args.devices,
    num_nodes=args.num_nodes,
    accelerator=accelerator,
    strategy="ddp",
    use_distributed_sampler=True,
)
trainer.fit(model=model, train_dataloaders=dataloader)
