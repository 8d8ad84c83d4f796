"""CLI commands: themes (statements in a store), cluster (any CSV of texts)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer

from . import STORE_HELP, eprint, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("themes")
    @handle_errors
    def themes(
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        n_themes: Optional[int] = typer.Option(None, "--themes", min=1, help="Number of themes per kind "
                                               "(default: chosen from the data). Implies --refit."),
        kind: Optional[List[str]] = typer.Option(None, "--kind", help="Only this statement kind (repeatable): "
                                                 "opening, motive, need, objection, question."),
        seed: int = typer.Option(0, "--seed", help="Random seed; same data and seed give the same themes."),
        refit: bool = typer.Option(False, "--refit", help="Fit new themes even when the store has saved theme "
                                   "models (default: keep their ids, new statements that fit no theme "
                                   "become emerging themes)."),
        vectors: str = typer.Option("e5", "--vectors", help="e5 (multilingual embeddings) or tfidf (lemmas only)."),
        rename: Optional[Tuple[str, str]] = typer.Option(None, "--rename", help="Give theme ID a name of your own "
                                                         "(ID as KIND:ID, e.g. objection:3, or ID with --kind); "
                                                         "\"\" gives back the automatic label. Kept across reruns."),
        merge: Optional[Tuple[str, str]] = typer.Option(None, "--merge", help="Merge theme A into theme B "
                                                        "(same kind; IDs as for --rename). Kept across reruns."),
        split: Optional[Tuple[str, int]] = typer.Option(None, "--split", help="Split theme ID into N themes "
                                                        "(ID.1 .. ID.N; N = 0 undoes it). Kept across reruns."),
    ) -> None:
        """Group each kind of statement into themes: label, size, share of calls, 3 quotes.

        Results go to the store's `themes` and `statement_themes` tables; the theme models are saved
        as <store>/models/themes-<kind>.joblib. Your names and merges live in <store>/themes.csv
        (edit it, or use --rename / --merge / --split) and are applied on every run.
        """
        from ..store import Store
        from ..themes import ThemeError, build_themes, edit_themes, themes_file

        if vectors not in ("e5", "tfidf"):
            raise ThemeError(f"unknown --vectors {vectors!r}", hint="use e5 or tfidf")
        with Store(store, create=False) as st:
            if rename is not None or merge is not None or split is not None:
                if kind and len(kind) > 1:
                    raise ThemeError("--rename/--merge/--split take one --kind", hint="name the theme as KIND:ID")
                edit_themes(st, rename=rename, merge=merge, split=split, kind=kind[0] if kind else None)
                eprint(f"saved in {themes_file(st)}")
            st.lock("themes")  # one writer per store: a second run is refused, not interleaved
            res = build_themes(st, kinds=kind or None, n_themes=n_themes, seed=seed, refit=refit, vectors=vectors)
            emb = res.pop("_embedding")
            for k, r in res.items():
                if not r["statements"]:
                    eprint(f"{k:10s} no statements")
                    continue
                how = "fitted" if r["refit"] else "assigned to saved themes"
                eprint(f"{k:10s} {r['statements']:6d} statements -> {r['themes']} themes"
                       f"{', ' + str(r['emerging']) + ' emerging' if r['emerging'] else ''}, "
                       f"{r['other']} other ({how}, {r['seconds']:.1f} s)")
            if emb["texts"]:
                eprint(f"embeddings: {emb['embedded']} new, cache hit rate {100 * emb['hit_rate']:.0f}%")

    @app.command("cluster")
    @handle_errors
    def cluster(
        texts_csv: Path = typer.Argument(..., help="CSV file with one text per row."),
        out: Path = typer.Option(..., "--out", help="CSV to write: the input columns plus theme_id, "
                                 "theme_label, outlier (one row per input row, same order)."),
        text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
        n_themes: Optional[int] = typer.Option(None, "--themes", min=1, help="Number of themes "
                                               "(default: chosen from the data)."),
        vectors: str = typer.Option("e5", "--vectors", help="e5 (multilingual embeddings) or tfidf (lemmas only)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        model: Optional[Path] = typer.Option(None, "--model", help="Assign to the themes of this saved model "
                                             "(from --save-model) instead of clustering anew."),
        save_model: Optional[Path] = typer.Option(None, "--save-model", help="Save the fitted theme model "
                                                  "(joblib) to assign later data to the same theme ids."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Store folder used as embedding cache."),
    ) -> None:
        """Cluster the texts of any CSV into themes (theme_id -1 / outlier=true: fits no theme)."""
        import pandas as pd

        from ..fileutil import atomic_write_text
        from ..errors import InputFormatError
        from ..themes import ThemeError, ThemeModel, cluster_texts

        if vectors not in ("e5", "tfidf"):
            raise ThemeError(f"unknown --vectors {vectors!r}", hint="use e5 or tfidf")
        if not texts_csv.is_file():
            raise InputFormatError("no such file", path=str(texts_csv))
        try:
            df = pd.read_csv(texts_csv, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise InputFormatError("the CSV is empty (not even a header row)", path=str(texts_csv),
                                   hint=f"give a CSV with a '{text_column}' column") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise InputFormatError(f"cannot read as CSV: {e}", path=str(texts_csv),
                                   hint="save it as UTF-8 CSV") from None
        if text_column not in df.columns:
            raise InputFormatError(f"no column {text_column!r} (columns: {', '.join(map(str, df.columns))})",
                                   path=str(texts_csv), hint="name the text column with --text-column")
        fitted = ThemeModel.load(model) if model is not None else None
        store = None
        if cache is not None:
            from ..store import Store

            store = Store(cache)
        try:
            res = cluster_texts(df[text_column].tolist(), n_themes=n_themes, vectors=vectors, seed=seed,
                                store=store, model=fitted)
        finally:
            if store is not None:
                store.close()
        out_df = df.copy()
        out_df["theme_id"] = [int(v) for v in res.labels]
        out_df["theme_label"] = [res.label_of(i) for i in range(len(df))]
        out_df["outlier"] = ["true" if v < 0 else "false" for v in res.labels]
        atomic_write_text(out, out_df.to_csv(index=False))
        if save_model is not None and res.fitted:
            res.model.save(save_model)
        n_other = int((res.labels < 0).sum())
        n_th = len({int(v) for v in res.labels if v >= 0})
        eprint(f"{len(df)} texts -> {n_th} themes, {n_other} outliers -> {out}")
