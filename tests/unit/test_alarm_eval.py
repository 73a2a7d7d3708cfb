"""mcv_core.alarm_eval: scripted metric series against CloudWatch's documented alarm semantics.

The missing-data tables are the ones in "Configuring how CloudWatch alarms treat missing data"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html, formerly a section of
AlarmThatSendsEmail.html): evaluation periods 3, evaluation range 5, the most recent datapoint on the right; 0 is a
non-breaching datapoint, X a breaching one and - a missing one."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from mcv_core import alarm_eval as ae
from mcv_core.alarm_eval import ALARM, INSUFFICIENT_DATA, OK, AlarmSpec, Datapoint, Sample, StatisticSet

UTC = timezone.utc
NOW = datetime(2026, 12, 6, 3, 0, 30, tzinfo=UTC)  # the window ends at 03:00:00; the newest 1-minute period is 02:59
RETAIN = "retain"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")  # the tables' column order


def spec(**overrides) -> AlarmSpec:
    fields = dict(
        name="mcv-bedrock-latency",
        namespace="MCV",
        metric_name="LatencyMs",
        period_s=60,
        evaluation_periods=3,
        threshold=1.0,
        comparison_operator="GreaterThanThreshold",
        statistic="Average",
    )
    fields.update(overrides)
    return AlarmSpec(**fields)


def row(text: str) -> list[float | None]:
    """ "0 - X - X" -> per-period values, oldest first (threshold 1.0, greater than)."""
    return [{"0": 0.0, "X": 5.0, "-": None}[c] for c in text.split()]


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 12, 6, hh, mm, ss, tzinfo=UTC)


# --- the documentation's tables ------------------------------------------------------------------------------------

# (datapoints to alarm, data points, # to fill, MISSING, IGNORE, BREACHING, NOT BREACHING), as the current page
# has them.
CURRENT_TABLES = [
    (3, "0 - X - X", 0, OK, OK, OK, OK),
    (3, "0 - - - -", 2, OK, OK, OK, OK),
    (3, "- - - - -", 3, INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, "0 X X - X", 0, ALARM, ALARM, ALARM, ALARM),
    (3, "- - X - -", 2, ALARM, RETAIN, ALARM, OK),
    (2, "0 - X - X", 0, ALARM, ALARM, ALARM, ALARM),
    (2, "0 0 X 0 X", 0, ALARM, ALARM, ALARM, ALARM),
    (2, "0 - X - -", 1, OK, OK, ALARM, OK),
    (2, "- - - - 0", 2, OK, OK, ALARM, OK),
    (2, "- - - X -", 2, ALARM, RETAIN, ALARM, OK),
]
# Rows only the page's earlier version has (the same tables with "- - - - X" and "X - - - -").
EARLIER_ROWS = [
    (3, "- - - - X", 2, INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, "X - - - -", 2, ALARM, RETAIN, ALARM, OK),
    (2, "- - - - X", 2, INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize("previous", [OK, ALARM, INSUFFICIENT_DATA])
@pytest.mark.parametrize(
    "m, points, to_fill, missing, ignore, breaching, not_breaching",
    CURRENT_TABLES + EARLIER_ROWS,
    ids=[f"{m}of3 {p}" for m, p, *_ in CURRENT_TABLES + EARLIER_ROWS],
)
def test_the_missing_data_tables(previous, m, points, to_fill, missing, ignore, breaching, not_breaching) -> None:
    for treatment, expected in zip(TREATMENTS, (missing, ignore, breaching, not_breaching)):
        alarm = spec(datapoints_to_alarm=m, treat_missing_data=treatment)
        result = ae.evaluate(alarm, row(points), NOW, previous, "the old reason")
        if expected == RETAIN:
            assert (result.state, result.reason) == (previous, "the old reason"), (treatment, points)
        else:
            assert result.state == expected, (treatment, points)
            assert result.reason != "the old reason"
        if treatment == "breaching":
            assert result.filled == to_fill, points


def test_the_second_row_goes_to_alarm_once_its_good_datapoint_leaves_the_range() -> None:
    # "The next time this alarm is evaluated, if the data is still missing it will go to ALARM, as that
    # non-breaching data point will no longer be in the evaluation range."
    alarm = spec(treat_missing_data="breaching")
    samples = [(at(2, 55, 10), 0.5)]  # period 02:55, the oldest of the five before 03:00
    assert ae.evaluate(alarm, samples, NOW).state == OK
    later = ae.evaluate(alarm, samples, NOW + timedelta(minutes=1), OK)
    assert later.state == ALARM and later.filled == 3
    assert later.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as "
        "[Breaching]."
    )


def test_enough_real_datapoints_reach_back_past_the_gaps() -> None:
    # "0 X X - X": 4 real datapoints >= 3, so the most recent 3 real ones are evaluated, the gap is not filled.
    result = ae.evaluate(spec(treat_missing_data="notBreaching"), row("0 X X - X"), NOW)
    assert result.state == ALARM and result.breaching == 3 and result.filled == 0
    assert [d.timestamp for d in result.evaluated] == [at(2, 56), at(2, 57), at(2, 59)]


# --- M out of N ------------------------------------------------------------------------------------------------------


def test_m_out_of_n_breaching_datapoints_need_not_be_consecutive() -> None:
    alarm = spec(evaluation_periods=5, datapoints_to_alarm=3)  # range 7
    assert ae.evaluate(alarm, [0, 0, 5, 0, 5, 0, 5], NOW).state == ALARM
    assert ae.evaluate(alarm, [5, 5, 5, 0, 5, 0, 5], NOW).breaching == 3
    # the first two breaching datapoints are older than the last 5: 2 of 5 only
    late = ae.evaluate(alarm, [5, 5, 0, 0, 5, 0, 5], NOW, ALARM)
    assert late.state == OK and late.breaching == 2
    assert late.reason == (
        "Threshold Crossed: 3 out of the last 5 datapoints [0.0 (06/12/26 02:58:00), 0.0 (06/12/26 02:56:00), "
        "0.0 (06/12/26 02:55:00)] were not greater than the threshold (1.0) "
        "(minimum 3 datapoints for ALARM -> OK transition)."
    )


def test_a_scripted_series_alarms_and_recovers_minute_by_minute() -> None:
    # 2 of 3 one-minute periods, Maximum latency over 2000 ms; throttling from 02:50 to 02:53.
    alarm = spec(statistic="Maximum", threshold=2000.0, datapoints_to_alarm=2, treat_missing_data="notBreaching")
    samples = []
    for minute in range(40, 60):
        slow = 50 <= minute < 53
        samples += [(at(2, minute, 5), 9000.0 if slow else 300.0), (at(2, minute, 35), 250.0)]
    states, state = [], INSUFFICIENT_DATA
    for minute in range(49, 58):  # evaluations at the end of minutes 02:48 .. 02:56
        state = ae.evaluate(alarm, samples, at(2, minute, 1), state).state
        states.append(state)
    assert states == [OK, OK, OK, ALARM, ALARM, ALARM, OK, OK, OK]


def test_one_period_alarm_reason_reads_like_cloudwatch() -> None:
    alarm = spec(evaluation_periods=1, comparison_operator="GreaterThanOrEqualToThreshold")
    hit = ae.evaluate(alarm, [(at(2, 59, 30), 1.0)], NOW)
    assert hit.state == ALARM
    assert hit.reason == (
        "Threshold Crossed: 1 datapoint [1.0 (06/12/26 02:59:00)] was greater than or equal to the threshold (1.0)."
    )
    miss = ae.evaluate(alarm, [(at(2, 59, 30), 0.25)], NOW, ALARM)
    assert miss.reason == (
        "Threshold Crossed: 1 datapoint [0.25 (06/12/26 02:59:00)] was not greater than or equal to the threshold "
        "(1.0)."
    )


def test_m_of_n_reason_lists_the_breaching_datapoints_newest_first() -> None:
    result = ae.evaluate(spec(datapoints_to_alarm=2), [0, 0, 3, 0.5, 5], NOW, OK)
    assert result.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [5.0 (06/12/26 02:59:00), 3.0 (06/12/26 02:57:00)] were "
        "greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )


def test_reasons_for_missing_data() -> None:
    assert ae.evaluate(spec(), [], NOW).reason == "Insufficient Data: 3 datapoints were unknown."
    one = ae.evaluate(spec(evaluation_periods=1, treat_missing_data="notBreaching"), [], NOW, ALARM)
    assert (one.state, one.reason) == (
        OK,
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching].",
    )
    # one real datapoint, one filled: the shape CloudWatch's own reason has
    two = spec(evaluation_periods=2, comparison_operator="LessThanThreshold", treat_missing_data="breaching")
    partial = ae.evaluate(two, [None, None, None, 0.0], NOW)
    assert (partial.state, partial.breaching, partial.filled) == (ALARM, 2, 1)
    assert partial.reason == (
        "Threshold Crossed: 1 datapoint [0.0 (06/12/26 02:59:00)] was less than the threshold (1.0) and "
        "1 missing datapoint was treated as [Breaching]."
    )


def test_premature_transition_waits_for_the_breach_to_age() -> None:
    # "the alarm does not go immediately into ALARM state when the data is either - - - - X or - - - X - and
    # Datapoints to Alarm is 3"; "- - X - -" goes to ALARM even with missing data treated as missing.
    alarm = spec()
    assert ae.evaluate(alarm, row("- - - - X"), NOW).state == INSUFFICIENT_DATA
    assert ae.evaluate(alarm, row("- - - X -"), NOW).state == INSUFFICIENT_DATA
    premature = ae.evaluate(alarm, row("- - X - -"), NOW)
    assert premature.state == ALARM and premature.breaching == 1 and premature.filled == 0
    assert premature.reason == (
        "Threshold Crossed: 1 out of the last 3 datapoints [5.0 (06/12/26 02:57:00)] was greater than the threshold "
        "(1.0) (minimum 3 datapoints for OK -> ALARM transition)."
    )
    # the next datapoint is not breaching: "- - X - 0" is OK
    assert ae.evaluate(alarm, row("- - X - 0"), NOW, ALARM).state == OK


def test_dynamodb_metrics_always_ignore_missing_data() -> None:
    alarm = spec(namespace="AWS/DynamoDB", metric_name="ThrottledRequests", treat_missing_data="breaching")
    assert alarm.missing_data == "ignore"
    assert ae.evaluate(alarm, [], NOW, OK, "kept").state == OK
    assert ae.evaluate(alarm, row("X X X - -"), NOW, OK).state == ALARM


# --- comparison operators at the threshold ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operator, at_threshold, just_above, just_below",
    [
        ("GreaterThanThreshold", OK, ALARM, OK),
        ("GreaterThanOrEqualToThreshold", ALARM, ALARM, OK),
        ("LessThanThreshold", OK, OK, ALARM),
        ("LessThanOrEqualToThreshold", ALARM, OK, ALARM),
    ],
)
def test_each_operator_at_the_threshold(operator, at_threshold, just_above, just_below) -> None:
    alarm = spec(evaluation_periods=1, threshold=0.3, comparison_operator=operator)
    cases = ((0.3, at_threshold), (math.nextafter(0.3, 1), just_above), (math.nextafter(0.3, 0), just_below))
    for value, expected in cases:
        assert ae.evaluate(alarm, [value], NOW).state == expected, (operator, value)
    words = ("was " if at_threshold == ALARM else "was not ") + ae.OPERATORS[operator][1]
    assert ae.evaluate(alarm, [0.3], NOW).reason == (
        f"Threshold Crossed: 1 datapoint [0.3 (06/12/26 02:59:00)] {words} the threshold (0.3)."
    )


# --- statistics and percentiles --------------------------------------------------------------------------------------


def test_each_statistic_over_values_counts_and_statistic_sets() -> None:
    samples = [
        (at(2, 59, 1), 4.0),
        (at(2, 59, 2), 10.0, 3),  # the value 10 three times (PutMetricData Values + Counts)
        (at(2, 59, 3), {"SampleCount": 4, "Sum": 6.0, "Minimum": 0.5, "Maximum": 3.0}),
    ]
    expected = {"SampleCount": 8.0, "Sum": 40.0, "Average": 5.0, "Minimum": 0.5, "Maximum": 10.0}
    for statistic, value in expected.items():
        (point,) = ae.datapoints(spec(statistic=statistic), samples, NOW, periods=1)
        assert (point.value, point.sample_count, point.timestamp) == (value, 8.0, at(2, 59)), statistic


def nearest_rank(values: list[float], p: float) -> float:
    """The smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@pytest.mark.parametrize("p", ["p50", "p90", "p95", "p99", "p99.9", "p100", "p0"])
def test_percentiles_are_nearest_rank(p) -> None:
    values = [float((i * 37) % 101) for i in range(1, 101)]  # 100 distinct values in a scrambled order
    samples = [(at(2, 59, i % 60), v) for i, v in enumerate(values)]
    (point,) = ae.datapoints(spec(statistic=None, extended_statistic=p), samples, NOW, periods=1)
    assert point.value == nearest_rank(values, float(p[1:])) and point.sample_count == 100


def test_percentile_of_ten_values_is_an_observed_value() -> None:
    samples = [(at(2, 59, i), float(i)) for i in range(1, 11)]
    p95 = ae.datapoints(spec(statistic=None, extended_statistic="p95"), samples, NOW, periods=1)[0]
    p90 = ae.datapoints(spec(statistic=None, extended_statistic="p90"), samples, NOW, periods=1)[0]
    assert (p95.value, p90.value) == (10.0, 9.0)


def test_percentile_counts_weigh_and_statistic_sets_of_one_value_serve() -> None:
    alarm90, alarm91 = (spec(statistic=None, extended_statistic=p) for p in ("p90", "p91"))
    samples = [(at(2, 59, 1), 1.0, 80), (at(2, 59, 2), StatisticSet(10, 10.0, 1.0, 1.0)), (at(2, 59, 3), 100.0, 10)]
    assert ae.datapoints(alarm90, samples, NOW, periods=1)[0].value == 1.0
    assert ae.datapoints(alarm91, samples, NOW, periods=1)[0].value == 100.0
    # a statistic set of several values, or a negative value, leaves the period without a percentile
    spread = samples + [(at(2, 59, 4), StatisticSet(2, 3.0, 1.0, 2.0))]
    assert ae.datapoints(alarm90, spread, NOW, periods=1)[0].value is None
    assert ae.datapoints(alarm90, [(at(2, 59, 4), -1.0)], NOW, periods=1)[0].value is None


def test_low_sample_percentile_alarm_can_hold_its_state() -> None:
    assert spec(statistic=None, extended_statistic="p99").min_samples() == pytest.approx(1000)
    assert spec(statistic=None, extended_statistic="p95").min_samples() == pytest.approx(200)
    assert spec(statistic=None, extended_statistic="p10").min_samples() == pytest.approx(100)
    samples = [(at(2, minute, 1), 5000.0, 150) for minute in (57, 58, 59)]  # 150 < 200 samples a period
    holds = spec(statistic=None, extended_statistic="p95", evaluate_low_sample_count_percentile="ignore")
    assert ae.evaluate(holds, samples, NOW, OK, "kept").state == OK
    evaluates = spec(statistic=None, extended_statistic="p95", evaluate_low_sample_count_percentile="evaluate")
    assert ae.evaluate(evaluates, samples, NOW, OK).state == ALARM
    enough = [(at(2, minute, 1), 5000.0, 200) for minute in (57, 58, 59)]
    assert ae.evaluate(holds, enough, NOW, OK).state == ALARM


# --- periods ----------------------------------------------------------------------------------------------------------


def test_periods_end_at_the_minute_and_slide_by_a_minute() -> None:
    # "if the Period is 5 minutes ... at the end of minute 5 the alarm evaluates based on data from minutes 1 to 5.
    # Then at the end of minute 6, ... from minutes 2 to 6."
    alarm = spec(period_s=300, evaluation_periods=1, statistic="SampleCount")
    now = at(10, 6, 30)
    assert ae.period_starts(alarm, now) == [at(9, 51).timestamp(), at(9, 56).timestamp(), at(10, 1).timestamp()]
    samples = [(at(10, 1), 1.0), (at(10, 0, 59), 1.0), (at(10, 5, 59), 1.0), (at(10, 6), 1.0)]
    points = ae.datapoints(alarm, samples, now)
    assert [(p.timestamp, p.value) for p in points] == [(at(9, 51), None), (at(9, 56), 1.0), (at(10, 1), 2.0)]
    # a minute later the newest period is 10:02 - 10:07 and 10:01:00 has slid out of it
    assert ae.datapoints(alarm, samples, at(10, 7, 0), periods=1)[0].value == 2.0  # 10:05:59 and 10:06:00
    # the minute in progress is never part of a period
    assert ae.datapoints(alarm, [(at(10, 6, 29), 1.0)], now, periods=1)[0].value is None


def test_high_resolution_periods_end_on_ten_seconds() -> None:
    for period in (10, 30):
        alarm = spec(period_s=period)
        assert ae.window_end(period, at(0, 0, 25)) == at(0, 0, 20).timestamp()
        assert ae.period_starts(alarm, at(0, 0, 25), periods=1) == [at(0, 0, 20).timestamp() - period]
    assert ae.window_end(60, at(12, 31, 29)) == at(12, 31).timestamp()  # newest one-minute period: 12:30


def test_datapoints_and_samples_evaluate_alike() -> None:
    alarm = spec(datapoints_to_alarm=2)
    samples = [Sample(at(2, 57, 10), 3.0), Sample(at(2, 59, 50).timestamp(), 4.0), (at(2, 58, 0), 0.0)]
    points = ae.datapoints(alarm, samples, NOW)
    assert [p.value for p in points] == [None, None, 3.0, 0.0, 4.0]
    by_points, by_samples = ae.evaluate(alarm, points, NOW), ae.evaluate(alarm, samples, NOW)
    by_values = ae.evaluate(alarm, [3.0, 0.0, 4.0], NOW)
    assert by_points == by_samples and by_points.reason == by_values.reason and by_points.state == ALARM
    assert ae.evaluate(alarm, points[2:], NOW) == by_points  # Datapoints are placed by their timestamps
    assert isinstance(by_points.evaluated[0], Datapoint)


# --- the spec ---------------------------------------------------------------------------------------------------------


def alarm_stat_of_p95() -> str:
    return spec(statistic=None, extended_statistic="p95").stat


def test_from_describe_reads_a_describe_alarms_item() -> None:
    item = {
        "AlarmName": "mcv-sagemaker-model-latency-p95",
        "AlarmArn": "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:mcv-sagemaker-model-latency-p95",
        "StateValue": "INSUFFICIENT_DATA",
        "MetricName": "ModelLatency",
        "Namespace": "AWS/SageMaker",
        "ExtendedStatistic": "p95",
        "Dimensions": [
            {"Name": "EndpointName", "Value": "mcv-endpoint"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        "Period": 300,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "Threshold": 2000000,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "evaluate",
    }
    assert AlarmSpec.from_describe(item) == AlarmSpec(
        name="mcv-sagemaker-model-latency-p95",
        namespace="AWS/SageMaker",
        metric_name="ModelLatency",
        dimensions={"EndpointName": "mcv-endpoint", "VariantName": "AllTraffic"},
        extended_statistic="p95",
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        threshold=2000000.0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        evaluate_low_sample_count_percentile="evaluate",
    )
    plain = AlarmSpec.from_describe(
        {"AlarmName": "errors", "MetricName": "Errors", "Namespace": "AWS/Lambda", "Statistic": "Sum", "Period": 60,
         "EvaluationPeriods": 2, "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
         "Metrics": []}
    )
    assert (plain.datapoints_to_alarm, plain.treat_missing_data, plain.dimensions) == (2, "missing", {})
    assert plain.stat == "Sum" and alarm_stat_of_p95() == "p95"
    with pytest.raises(ValueError, match="metric math"):
        AlarmSpec.from_describe({"AlarmName": "math", "Metrics": [{"Id": "e1", "Expression": "m1/m2"}]})


def test_from_describe_reads_what_moto_describes() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="ap-northeast-1")
        cloudwatch.put_metric_alarm(
            AlarmName="mcv-bedrock-p95", Namespace="MCV", MetricName="LatencyMs", ExtendedStatistic="p95",
            Dimensions=[{"Name": "Target", "Value": "bedrock"}], Period=60, EvaluationPeriods=3, DatapointsToAlarm=2,
            Threshold=2000, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        )
        (item,) = cloudwatch.describe_alarms(AlarmNames=["mcv-bedrock-p95"])["MetricAlarms"]
    alarm = AlarmSpec.from_describe(item)
    assert alarm == spec(
        name="mcv-bedrock-p95", statistic=None, extended_statistic="p95", dimensions={"Target": "bedrock"},
        datapoints_to_alarm=2, threshold=2000, treat_missing_data="notBreaching",
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"extended_statistic": "p95"}, "exactly one"),
        ({"statistic": "Median"}, "unknown statistic"),
        ({"statistic": None, "extended_statistic": "tm99"}, "unsupported extended statistic"),
        ({"statistic": None, "extended_statistic": "p100.5"}, "unsupported extended statistic"),
        ({"period_s": 45}, "period"),
        ({"datapoints_to_alarm": 4}, "datapoints to alarm"),
        ({"evaluation_periods": 1441}, "one day"),
        ({"comparison_operator": "LessThanLowerOrGreaterThanUpperThreshold"}, "comparison operator"),
        ({"treat_missing_data": "zero"}, "treat_missing_data"),
    ],
)
def test_invalid_specs_are_refused(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_java_style_numbers_in_reasons() -> None:
    assert [ae._number(v) for v in (1, 0.25, 1234567.0, 1.5e7, 12345678.0, 1e-4, 0.001, 0.0, -2.5e-7)] == [
        "1.0", "0.25", "1234567.0", "1.5E7", "1.2345678E7", "1.0E-4", "0.001", "0.0", "-2.5E-7"
    ]
