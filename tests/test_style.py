"The code's shape: every line within the project's length (ruff, 120 characters, set in pyproject.toml), and no module reaching for another's private names."
import ast, json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_line_is_longer_than_the_project_allows():
    found = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "E501", "--output-format", "json", "nbs", "lwm_nb"],
                           cwd=ROOT, capture_output=True, text=True)
    too_long = [f"{Path(v['filename']).relative_to(ROOT)}:{v['location']['row']}" for v in json.loads(found.stdout)
                # nbdev writes `__all__` wrapped at 120 characters after `__all__ = `: the one line it does not let us shorten
                if v["filename"].endswith(".ipynb")
                or not Path(v["filename"]).read_text().splitlines()[v["location"]["row"] - 1].startswith("__all__ = ")]
    assert not too_long, too_long


def test_no_module_imports_another_modules_private_names():
    private = [f"{file.name}: {alias.name}" for file in (ROOT / "lwm_nb").glob("*.py")
               for node in ast.walk(ast.parse(file.read_text())) if isinstance(node, ast.ImportFrom) and (node.level or "lwm_nb" in (node.module or ""))
               for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert not private, private
