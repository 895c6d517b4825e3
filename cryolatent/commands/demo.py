"""Run the embedded default end to end: simulate a small flexible-molecule dataset
(no download), reconstruct its consensus map with half-map FSC, train the
heterogeneous model, write the analysis report, score the decoded volumes
against the ground truth, and report where the results are."""

from __future__ import annotations

import argparse
import shutil

from cryolatent.commands._args import positive_int
from cryolatent.datasets.manifest import dataset_info
from cryolatent.demo import run_demo
from cryolatent.errors import InputError
from cryolatent.outputs import check_folder, new_folders

NAME = "demo"
HELP = "simulate the embedded default dataset and process it end to end"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--outdir", default="demo_output", help="output folder")
    parser.add_argument("--dataset", default="default", help="simulated entry of data_manifest.yaml (default, tiny, bench)")
    parser.add_argument("--epochs", type=positive_int, default=5, help="training epochs")
    parser.add_argument("--force", action="store_true", help="replace the output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check(args: argparse.Namespace):
    """Every argument, before anything is made."""
    entry = dataset_info(args.dataset)
    if entry["kind"] != "simulated":
        raise InputError(f"--dataset {args.dataset} is an {entry['kind']} download; the demo runs a simulated one")
    out = check_folder(args.outdir)
    if out.exists() and not args.force:
        raise InputError("output folder exists; pass --force to replace it", out)
    return out


def run(args: argparse.Namespace) -> int:
    out = _check(args)
    made = not out.exists()
    with new_folders(out):  # parent folders made for the output go again on a failure
        try:
            summary = run_demo(out, dataset=args.dataset, epochs=args.epochs, force=args.force,
                               progress=not args.no_progress)
        except BaseException:
            if made:  # the demo made this folder: leave nothing of a failed run behind
                shutil.rmtree(out, ignore_errors=True)
            raise
    out = summary["outdir"]
    print(f"\nDone: {summary['n_particles']} particles simulated, reconstructed and analysed.")
    print(f"  dataset:        {out}/data/ (particles.mrcs, poses.pkl, ctf.pkl, particles.star, gt_volumes/)")
    print(f"  consensus map:  {out}/consensus.mrc (+ _half_a/_half_b, _fsc.txt, _fsc.png)")
    print(f"  half-map FSC 0.143: {summary['half_map_resolution_0143']:.1f} A; "
          f"map vs truth FSC 0.5: {summary['truth_resolution_05']:.1f} A")
    print(f"  plot:           {out}/consensus_vs_truth.png")
    print(f"  trained model:  {out}/run/ ({summary['epochs']} epochs; z.npy, weights.pt, train_log.csv)")
    print(f"  analysis:       {out}/analysis/ (index.html, latent PCA/UMAP, cluster-centre volumes)")
    print(f"  decoded volumes vs the true conformations: mean FSC-AUC {summary['per_conformation_auc']:.3f}, "
          f"mean FSC 0.5 at {summary['per_conformation_res05']:.1f} A")
    print(f"Explore it in JupyterLab: .venv/bin/jupyter lab notebooks/")
    return 0
