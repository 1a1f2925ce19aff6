using System.Collections.Concurrent;
using System.Diagnostics;
using JasperFx.Events;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Telemetry;

/// <summary>
/// Metrics read off the commit feed: every event this process commits is counted (the append rate); a task's end is a
/// transition (kind = task name, outcome, code); a start's host-side and total latencies are measured between the
/// commits that bound them. Cheap: a switch per event, on the committing thread, and two bounded maps of what is in flight.
/// A start whose beginning was committed by another process (another service node) is counted, but not timed.
/// </summary>
public sealed class CommitMetrics : ICommitObserver
{
    /// <summary>In-flight entries kept at most: past this, the maps are cleared (a leak guard, not a normal path).</summary>
    private const int MaxInFlight = 100_000;

    private readonly ConcurrentDictionary<Guid, (string Name, DateTimeOffset Created)> tasks = new();
    private readonly ConcurrentDictionary<Guid, long> reserved = new(); // start task → timestamp of its reservation's commit

    public void OnCommitted(IReadOnlyList<IEvent> events)
    {
        XapiTelemetry.Commits.Add(1);
        foreach (var e in events)
        {
            XapiTelemetry.EventsAppended.Add(1, new KeyValuePair<string, object?>("type", e.EventTypeName));
            switch (e.Data)
            {
                case TaskCreated created:
                    Guard(tasks);
                    tasks[created.TaskId] = (created.Name, created.CreatedAt);
                    break;
                case TaskSucceeded done:
                    Ended(e.StreamId, "success", "", done.FinishedAt);
                    break;
                case TaskFailed failed:
                    Ended(e.StreamId, "failure", failed.ErrorInfo.IsDefaultOrEmpty ? "" : failed.ErrorInfo[0], failed.FinishedAt);
                    break;
                case TaskCancelled cancelled:
                    Ended(e.StreamId, "cancelled", "TASK_CANCELLED", cancelled.FinishedAt);
                    break;
                case StartRefused refused:
                    XapiTelemetry.Transitions.Add(1, Tag("kind", "VM." + refused.Operation), Tag("outcome", "refused"), Tag("code", refused.Code));
                    XapiTelemetry.Placements.Add(1, Tag("outcome", "refused"), Tag("code", refused.Code));
                    break;
                case HostChosen chosen:
                    XapiTelemetry.Placements.Add(1, Tag("outcome", "chosen"), Tag("code", ""));
                    Guard(reserved);
                    reserved[chosen.TaskId] = Stopwatch.GetTimestamp();
                    break;
                case ResidentOnSet resident:
                    HostSide(resident.TaskId, "success");
                    break;
                case StartFailed failed:
                    HostSide(failed.TaskId, "failure");
                    break;
            }
        }
    }

    private void Ended(Guid taskId, string outcome, string code, DateTimeOffset finished)
    {
        if (!tasks.TryRemove(taskId, out var task))
        {
            return; // created by another process, or before this one started: its kind is unknown here
        }

        XapiTelemetry.Transitions.Add(1, Tag("kind", task.Name), Tag("outcome", outcome), Tag("code", code));
        if (task.Name is "VM.start" or "VM.start_on")
        {
            var seconds = Math.Max(0, (finished - task.Created).TotalSeconds);
            XapiTelemetry.StartTotal.Record(seconds, Tag("operation", task.Name), Tag("outcome", outcome));
        }
    }

    private void HostSide(Guid taskId, string outcome)
    {
        if (reserved.TryRemove(taskId, out var since))
        {
            XapiTelemetry.StartHost.Record(Stopwatch.GetElapsedTime(since).TotalSeconds, Tag("outcome", outcome));
        }
    }

    private static void Guard<T>(ConcurrentDictionary<Guid, T> map)
    {
        if (map.Count >= MaxInFlight)
        {
            map.Clear();
        }
    }

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);
}
