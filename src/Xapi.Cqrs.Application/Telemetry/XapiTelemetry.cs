using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Xapi.Cqrs.Application.Telemetry;

/// <summary>
/// The service's own instruments, BCL only (System.Diagnostics): one <see cref="Meter"/> and one
/// <see cref="ActivitySource"/>, both named <see cref="Name"/>. The Api layer exports them (Prometheus text at
/// /metrics, OTLP traces when OTEL_EXPORTER_OTLP_ENDPOINT is set); nothing here knows an exporter. Process-wide
/// (static), as a meter's identity is its name: several service instances in one process (tests) add up.
/// </summary>
public static class XapiTelemetry
{
    public const string Name = "Xapi.Cqrs";

    public static readonly ActivitySource Source = new(Name);

    public static readonly Meter Meter = new(Name);

    /// <summary>Bucket bounds for latencies in seconds, 1 ms to 60 s (the exporters' defaults are for milliseconds).</summary>
    private static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    /// <summary>Every end of a task-driving transition (VM.start, VM.clean_shutdown, VBD.plug, …) and every refused start: kind, outcome (success, failure, cancelled, refused), code.</summary>
    public static readonly Counter<long> Transitions = Meter.CreateCounter<long>("xapi.vm.transitions", "{transition}",
        "VM and device transitions ended, by kind (task name), outcome (success|failure|cancelled|refused) and xapi error code");

    /// <summary>Master side of a start: from the request queued at the placement loop to its decision committed.</summary>
    public static readonly Histogram<double> StartDecision = Meter.CreateHistogram<double>("xapi.start.decision.duration", "s",
        "Start latency, master side: queued at the placement loop until the decision is committed", advice: Seconds);

    /// <summary>Host side of a start: from the reservation committed to the host's report (resident, or failed) committed.</summary>
    public static readonly Histogram<double> StartHost = Meter.CreateHistogram<double>("xapi.start.host.duration", "s",
        "Start latency, host side: reservation committed until the host agent's report (resident or failed) is committed", advice: Seconds);

    /// <summary>A start from its task's creation to its end (success or failure).</summary>
    public static readonly Histogram<double> StartTotal = Meter.CreateHistogram<double>("xapi.start.duration", "s",
        "Start latency, total: task created until the task ended, by outcome", advice: Seconds);

    /// <summary>Placement outcomes: a host chosen, or the start refused (with its code).</summary>
    public static readonly Counter<long> Placements = Meter.CreateCounter<long>("xapi.placement.decisions", "{decision}",
        "Placement decisions, by outcome (chosen|refused) and code");

    /// <summary>Placement batches decided again (a chosen host changed, a race lost) and starts answered TOO_BUSY.</summary>
    public static readonly Counter<long> PlacementConflicts = Meter.CreateCounter<long>("xapi.placement.conflicts", "{conflict}",
        "Placement conflicts, by kind: replan (a batch decided again) or busy (a start answered 503 TOO_BUSY)");

    /// <summary>Events committed by this process (rate() of it is the append rate), by stream kind of the event.</summary>
    public static readonly Counter<long> EventsAppended = Meter.CreateCounter<long>("xapi.events.appended", "{event}",
        "Events appended to the log by this process, by event type");

    /// <summary>Commits (transactions with events) by this process.</summary>
    public static readonly Counter<long> Commits = Meter.CreateCounter<long>("xapi.events.commits", "{commit}",
        "Transactions that appended events, committed by this process");

    /// <summary>Server-sent event streams open now.</summary>
    public static readonly UpDownCounter<long> EventStreams = Meter.CreateUpDownCounter<long>("xapi.events.stream.clients", "{client}",
        "Clients of GET /api/events/stream connected now");
}
