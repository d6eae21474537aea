"""How a run's settings travel through lwm_nb's modules: a call trace of a tiny `run_pipeline`.

A call carries the settings when one of its arguments is the run's `Profile`, or an object that holds it (a `Run`,
a step's settings). The settings are in the module ("room") of the innermost such call; a move is a change of room,
by a call or by a return. The trace prints the moves, the rooms, the returns to a room left before, and the climbs
back up a layer (a move into a module of a higher layer: a module's layer is one more than the highest layer among
the lwm_nb modules it imports).

    python benchmarks/run_flow.py            # the first 400 moves and the whole run
    python benchmarks/run_flow.py --moves 0  # the whole run only
"""
import argparse, ast, json, sys, tempfile
from pathlib import Path

import lwm_nb
from lwm_nb.profiles import Profile

PACKAGE = Path(lwm_nb.__file__).parent
TINY = {"batch_size": 16, "teacher_epochs": 1, "student_epochs": 1, "retrain_epochs": 1, "seeds": 2,
        "students_per_class": 5, "transfer": True, "sweep": [64, 16], "speed_size": 32, "speed_batch": 4,
        "speed_repeats": 1, "min_steps": 0, "teacher_min_steps": 0, "threads": 0}


def layers() -> dict[str, int]:
    "Each module's layer: 0 for one that imports nothing of lwm_nb, else one more than the highest it imports."
    imports = {}
    for file in PACKAGE.glob("*.py"):
        if file.stem.startswith("_"): continue
        tree = ast.parse(file.read_text())
        imports[file.stem] = {node.module.lstrip(".").split(".")[-1] if node.level else node.module.split(".")[-1]
                              for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                              and (node.level or node.module.startswith("lwm_nb."))}
    depth = {}
    def layer(m, seen=()):
        if m not in depth:
            below = [x for x in imports.get(m, ()) if x in imports and x not in seen and x != m]
            depth[m] = 1 + max((layer(x, (*seen, m)) for x in below), default=-1)
        return depth[m]
    for m in imports: layer(m)
    return depth


def carries(value) -> bool:
    if isinstance(value, Profile): return True
    attributes = getattr(value, "__dict__", None)
    if attributes is None and hasattr(value, "__dataclass_fields__"):
        attributes = {k: getattr(value, k, None) for k in value.__dataclass_fields__}
    return isinstance(attributes, dict) and any(isinstance(v, Profile) for v in attributes.values())


def trace(out: Path, data: Path) -> list[str]:
    "The rooms the settings are in, move by move: the module of the innermost lwm_nb call that carries them."
    from lwm_nb.pipeline import run_pipeline
    carrying, rooms = [], []  # the frames that carry the settings, innermost last
    def module_of(frame):
        file = Path(frame.f_code.co_filename)
        return file.stem if file.parent == PACKAGE else None
    def moved():
        room = module_of(carrying[-1]) if carrying else None
        if room is not None and (not rooms or rooms[-1] != room): rooms.append(room)
    def profile(frame, event, arg):
        if event == "return" and carrying and carrying[-1] is frame:
            carrying.pop(); moved()
        if event != "call" or module_of(frame) is None or frame.f_code.co_name.startswith("<"): return
        names = frame.f_code.co_varnames[:frame.f_code.co_argcount + frame.f_code.co_kwonlyargcount]
        if any(carries(frame.f_locals.get(n)) for n in names):
            carrying.append(frame); moved()
    profile_file = out / "tiny.json"
    profile_file.write_text(json.dumps(TINY))
    sys.setprofile(profile)
    try: run_pipeline(data, out / "run", profile=str(profile_file), progress=False)
    finally: sys.setprofile(None)
    return rooms


def summary(rooms: list[str], depth: dict[str, int]) -> dict:
    "Rooms entered, returns to a room left before, and climbs to a higher layer, over a list of rooms."
    returns = sum(room in rooms[:i - 1] for i, room in enumerate(rooms) if i > 0)
    climbs = sum(depth.get(b, 0) > depth.get(a, 0) for a, b in zip(rooms, rooms[1:]))
    return {"moves": len(rooms) - 1, "rooms": len(set(rooms)), "returns": returns, "climbs": climbs,
            "visits": {m: rooms.count(m) for m in sorted(set(rooms), key=rooms.count, reverse=True)}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=400, help="also summarise the first MOVES calls (0: only the whole run)")
    args = parser.parse_args()
    from lwm_nb.data import make_digits
    with tempfile.TemporaryDirectory() as tmp:
        data = make_digits(Path(tmp) / "digits", per_class=(12, 6, 6))
        rooms = trace(Path(tmp), data)
    depth = layers()
    for label, part in ([(f"first {args.moves} moves", rooms[:args.moves + 1])] if args.moves else []) + [("whole run", rooms)]:
        s = summary(part, depth)
        print(f"{label}: {s['moves']} moves between {s['rooms']} modules, {s['returns']} returns to a module left before, "
              f"{s['climbs']} climbs back up a layer")
        print("   visits: " + ", ".join(f"{m} {n}" for m, n in s["visits"].items()))
