"""What the tests know about the mini-apps comes from the tool and the mini-app
folders, never from a list here: `motifbench --list` names the motifs, and
each `miniapps/<name>/checks.py` declares that mini-app's own science check
and bad-input cases (see README, "Adding a mini-app")."""
import importlib.util
import os
import subprocess


def list_motifs(exe):
    """Motif names, in the order `motifbench --list` prints them."""
    out = subprocess.run([exe, "--list"], capture_output=True, text=True, timeout=60, check=True).stdout
    names, in_motifs = [], False
    for line in out.splitlines():
        if line.startswith("motifs"):
            in_motifs = True
        elif in_motifs and line.startswith("  ") and not line.startswith("   "):
            names.append(line.split()[0])
        elif in_motifs and line and not line.startswith(" "):
            break
    return names


def load_checks(source_dir, name):
    """The module miniapps/<name>/checks.py, or None when the folder has none."""
    path = os.path.join(source_dir, "miniapps", name, "checks.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location(f"checks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
