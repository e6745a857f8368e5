"""statsmodels fits as a user sees them recorded: statistics, coefficients, summary, results object."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import fittrace
import fittrace.statsmodels
from fittrace.tracking.client import Client
from integration_tests.plugins.faults import (
    STORE_FAULTS,
    assert_unchanged_with_one_warning,
    break_store,
)


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x1": rng.normal(size=80), "x2": rng.normal(size=80)})
    frame["y"] = 1.5 + 2 * frame["x1"] - frame["x2"] + rng.normal(scale=0.5, size=80)
    frame["hit"] = (frame["y"] > 1.5).astype(int)
    return frame


def _artifact(run_id: str, path: str) -> str:
    with open(Client().download_artifacts(run_id, path)) as f:
        return f.read()


def test_ols_records_statistics_coefficients_summary_and_the_results(data, runs):
    fittrace.statsmodels.autolog()
    X = sm.add_constant(data[["x1", "x2"]])
    results = sm.OLS(data["y"], X).fit(cov_type="HC1")

    (run,) = runs()
    assert run.data.params["cov_type"] == "HC1"
    assert run.data.params["model_class"] == "statsmodels.regression.linear_model.OLS"
    assert run.data.params["nobs"] == "80.0"
    for name in ("aic", "bic", "llf", "rsquared", "rsquared_adj", "fvalue", "ssr"):
        assert run.data.metrics[name] == pytest.approx(getattr(results, name))
    table = pd.read_csv(io.StringIO(_artifact(run.info.run_id, "coefficients.csv")), index_col=0)
    assert list(table.index) == ["const", "x1", "x2"]
    np.testing.assert_allclose(table["coef"], results.params)
    np.testing.assert_allclose(table["std_err"], results.bse)
    np.testing.assert_allclose(table["p_value"], results.pvalues)
    assert "OLS Regression Results" in _artifact(run.info.run_id, "model_summary.txt")
    loaded = fittrace.statsmodels.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(X), results.predict(X))
    pyfunc = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(pyfunc.predict(X), results.predict(X))
    assert [d.context for d in run.inputs.dataset_inputs] == ["train"]


def test_glm_formula_logit_and_arima_each_record_one_run(data, runs):
    from statsmodels.tsa.arima.model import ARIMA

    fittrace.statsmodels.autolog()
    glm = smf.glm("y ~ x1 + x2", data, family=sm.families.Gaussian()).fit()
    logit = sm.Logit(data["hit"], sm.add_constant(data[["x1"]])).fit(disp=0)
    arima = ARIMA(data["y"].to_numpy(), order=(1, 0, 0)).fit()

    glm_run, logit_run, arima_run = runs()
    assert glm_run.data.params["formula"] == "y ~ x1 + x2"
    assert glm_run.data.metrics["llf"] == pytest.approx(glm.llf)
    assert logit_run.data.params["disp"] == "0"
    assert logit_run.data.metrics["aic"] == pytest.approx(logit.aic)
    assert arima_run.data.metrics["bic"] == pytest.approx(arima.bic)
    assert "rsquared" not in arima_run.data.metrics
    table = _artifact(arima_run.info.run_id, "coefficients.csv")
    assert table.splitlines()[0].startswith("name,coef,std_err")


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_a_failing_store_changes_no_fit_and_warns_once(data, monkeypatch, fault):
    X = sm.add_constant(data[["x1", "x2"]])
    expected = sm.OLS(data["y"], X).fit().params
    break_store(monkeypatch, fault)
    fittrace.statsmodels.autolog()
    assert_unchanged_with_one_warning(
        lambda: sm.OLS(data["y"], X).fit().params,
        lambda got: pd.testing.assert_series_equal(got, expected),
    )
