"""No command from a settings file or a shared store: a module:function task read from
there runs only when marked with @actsearch.task; and tasks named by a file path."""

from __future__ import annotations

import sys

import pytest

import actsearch
from actsearch.cli import main
from actsearch.errors import ActsearchError, TaskError
from actsearch.result import Result
from actsearch.search.config import SearchConfig
from actsearch.store import Store
from actsearch.tasks import get_task
from actsearch.tasks.mark import is_marked, split_spec
from actsearch.tasks.user import refuse_unmarked

COMMANDS = [("os:system", {"command": "touch PWNED"}),
            ("builtins:eval", {"source": "open('PWNED', 'w')"}),
            ("subprocess:call", {"args": "touch PWNED", "shell": "true"})]


def _settings(path, task, options):
    lines = [f'task = "{task}"', "budget = 4", "[task_options]"] + [f'{k} = "{v}"' for k, v in options.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("task, options", COMMANDS)
def test_a_command_in_a_settings_file_is_refused_before_anything_runs(task, options, tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.chdir(tmp_path)
    _settings(tmp_path / "s.toml", task, options)
    url = "sqlite:///" + str(tmp_path / "s.db")
    assert main(["search", "--config", "s.toml", "--name", "C", "--storage", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"task {task!r} comes from the settings file" in err, err
    assert "not marked as a task" in err and "--task on the command line" in err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "s.db").exists()


def _edited_store(tmp_path, task, options):
    """A finished search whose stored config someone rewrote in the database to run ``task``."""
    url = "sqlite:///" + str(tmp_path / "shared.db")
    store = Store(url)
    cfg = SearchConfig(task="digits", epochs=1)
    search = store.open_search("src", cfg.stored(task_spec="digits", epochs=1, metric="val_accuracy"))
    for text, score in (("relu(x)", 0.5), ("x*tanh(x)", 0.7)):
        c = actsearch.parse(text)
        search.record(Result(key=c.key, text=c.text, score=score, seed_scores=[score], task="digits",
                             fingerprint=c.fingerprint()))
    search.set_state("finished")
    config = {**search.config, "task": task, "task_name": task, "task_options": options}
    store.storage.set_study_user_attr(search.study_id, "config", config)
    return url


@pytest.mark.parametrize("task, options", COMMANDS)
def test_a_command_written_into_a_shared_store_is_refused(task, options, tmp_path, monkeypatch, capsys):
    from actsearch.search import run_search
    from actsearch.search.confirm import confirm

    monkeypatch.chdir(tmp_path)
    url = _edited_store(tmp_path, task, options)
    needle = f"task {task!r} comes from the stored search 'src' and is not marked as a task"
    for call in (lambda: confirm("src", storage=url), lambda: run_search(name="src", resume=True, storage=url)):
        with pytest.raises(TaskError, match=needle):
            call()
    for argv in (["confirm", "src", "--storage", url], ["search", "--resume", "--name", "src", "--storage", url]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "PWNED").exists()
    assert [s["name"] for s in Store(url).searches()] == ["src"]  # no confirmation was created


def test_an_unmarked_module_is_never_imported(tmp_path, monkeypatch):
    """Its text is read first: an import with side effects would already be a command."""
    (tmp_path / "sneaky_task.py").write_text("open('IMPORTED', 'w').close()\n"
                                             "def train(act_factory, budget, seed, report):\n    return 1.0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("sneaky_task:train", str(tmp_path / "sneaky_task.py") + ":train"):
        with pytest.raises(TaskError, match="not marked as a task"):
            refuse_unmarked(spec, "the settings file 's.toml'")
    assert not (tmp_path / "IMPORTED").exists() and "sneaky_task" not in sys.modules


def test_a_marked_task_runs_from_a_file_or_a_store(tmp_path, monkeypatch):
    (tmp_path / "good_task.py").write_text(
        "import actsearch\n\n@actsearch.task(metric='val_loss', mode='min')\n"
        "def train(act_factory, budget, seed, report):\n    return 0.5\n\n"
        "def helper(act_factory, budget, seed, report):\n    return 0.5\n\n"
        "alias = actsearch.task(helper)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("good_task:train", "good_task:alias", str(tmp_path / "good_task.py") + ":train"):
        refuse_unmarked(spec, "the stored search 'src'")  # no error
    with pytest.raises(TaskError, match="not marked"):
        refuse_unmarked("good_task:helper", "the stored search 'src'")
    refuse_unmarked("digits", "the stored search 'src'")  # registered names are the user's own
    task = get_task("good_task:train")
    assert is_marked(task.fn) and (task.metric, task.mode) == ("val_loss", "min")


def test_a_marked_task_passes_the_search_check(tmp_path, monkeypatch):
    """From a settings file: the refusal passes, and the search goes on to build the task."""
    import actsearch.search.run as run_module

    (tmp_path / "fine_task.py").write_text("import actsearch\n\n@actsearch.task\n"
                                           "def train(act_factory, budget, seed, report):\n    return 0.5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    built = []

    def stop(name, **options):
        built.append(name)
        raise ActsearchError("stopped by the test")

    monkeypatch.setattr(run_module, "get_task", stop)
    (tmp_path / "s.toml").write_text('task = "fine_task:train"\nbudget = 2\n')
    assert main(["search", "--config", "s.toml", "--storage", "sqlite:///" + str(tmp_path / "s.db")]) == 2
    assert built == ["fine_task:train"]


def test_tasks_named_by_a_file_path(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "helpers_for_json_task.py").write_text("SCORE = 0.75\n")
    # named json.py: loaded under a name of its own, the standard library's json untouched
    (folder / "json.py").write_text("from helpers_for_json_task import SCORE\n\n"
                                    "def train(act_factory, budget, seed, report):\n    return SCORE\n\n"
                                    "def trainer_notes():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    task = get_task("exp/json.py:train")
    assert task.train(lambda: None, budget=1).score == 0.75
    import json

    assert json.dumps([1]) == "[1]" and sys.modules["json"] is json
    with pytest.raises(TaskError, match=r"has no attribute 'trian'; did you mean 'train'\? "
                                        r"\(its functions: train, trainer_notes\)"):
        get_task("exp/json.py:trian")
    with pytest.raises(TaskError, match="task file 'exp/nope.py' does not exist"):
        get_task("exp/nope.py:train")
    assert split_spec("exp/json.py:train") == ("exp/json.py", "train", True)
    for bad in ("exp/json.py", "a b:train", "mod:"):
        with pytest.raises(TaskError, match="is not of the form|neither a module name"):
            split_spec(bad)
