using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// One event as the log holds it: its global sequence, its stream, the name it is stored under, when it was committed,
/// who caused it (the token subject) and under which correlation id, and the event itself.
/// </summary>
public sealed record RecordedEvent(long Seq, Guid Stream, string Type, DateTimeOffset At, string? Actor, string? CorrelationId, object Data);

/// <summary>A host-side step of a start: its stored event name, when it finished on the host and how long it took there.</summary>
public sealed record StartStep(string Type, DateTimeOffset? At, double? DurationMs);

/// <summary>
/// How a start ended: <see cref="StartOutcomes"/> status, the xapi error of a failed or cancelled start with its params,
/// and when (null while pending).
/// </summary>
public sealed record StartOutcome(string Status, string? Code, ImmutableArray<string> Params, DateTimeOffset? At);

/// <summary>The statuses of <see cref="StartOutcome"/>.</summary>
public static class StartOutcomes
{
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Failed = "failed";
    public const string Pending = "pending";
    public const string Cancelled = "cancelled";
}

/// <summary>
/// One start attempt (VM.start or VM.start_on) told from the log: who asked and when, the placement with every input
/// it recorded, the host-side steps, the outcome, and what today's placement makes of the recorded choice.
/// </summary>
/// <param name="TaskId">The start's task (a refused start's task id is the one its StartRefused carries).</param>
/// <param name="Operation"><c>start</c> or <c>start_on</c>.</param>
/// <param name="RequestedAt">When its first event was committed.</param>
/// <param name="Subject">Who asked: the token subject its first event was stamped with.</param>
/// <param name="CorrelationId">The correlation id of the command, from its first event.</param>
/// <param name="RequestedHost">The host named by start_on (null for start, and for a start_on refused before placement: it is not recorded).</param>
/// <param name="Paused">Whether the domain was to be left paused (false when refused: not recorded).</param>
/// <param name="Choice">The recorded placement (null: refused before placement).</param>
/// <param name="Steps">The host-side steps, in order, up to the end or the failure.</param>
/// <param name="Outcome">How it ended, or pending.</param>
/// <param name="Replay">Today's placement over <paramref name="Choice"/>'s inputs; not replayed without a choice.</param>
public sealed record StartStory(
    Guid TaskId,
    string Operation,
    DateTimeOffset RequestedAt,
    string? Subject,
    string? CorrelationId,
    Guid? RequestedHost,
    bool Paused,
    HostChosen? Choice,
    ImmutableArray<StartStep> Steps,
    StartOutcome Outcome,
    PlacementReplayResult Replay);

/// <summary>
/// Explain (API.md "Audit replay"): the starts of one VM, each as a <see cref="StartStory"/>, from the VM's recorded
/// events and its tasks' (a pure fold: no I/O, no clock; the placement replay is <see cref="PlacementReplay.Replay"/>).
/// A start is every task for which the VM's stream holds <see cref="OperationAdded"/> of start or start_on, a
/// <see cref="StartRefused"/> or a <see cref="HostChosen"/>; starts come in the order of their first event. Its outcome:
/// <see cref="ResidentOnSet"/> (running or paused), <see cref="StartRefused"/> or <see cref="StartFailed"/> (failed, with
/// code and params; cancelled when the code is TASK_CANCELLED), the task's TaskCancelled (cancelled) or TaskFailed
/// (failed), else pending. Events of other streams, of other tasks and of other operations are ignored.
/// </summary>
public static class StartStories
{
    private static readonly string[] StartOperations = [VmOperation.Start.ToWire(), VmOperation.StartOn.ToWire()];

    public static ImmutableArray<StartStory> Tell(Guid vmId, IEnumerable<RecordedEvent> events)
    {
        var ordered = events.OrderBy(e => e.Seq).ToList();
        var starts = new List<Guid>();
        var byTask = new Dictionary<Guid, List<RecordedEvent>>();
        foreach (var e in ordered.Where(e => e.Stream == vmId))
        {
            var task = e.Data switch
            {
                OperationAdded a when StartOperations.Contains(a.Operation) => a.TaskId,
                StartRefused r => r.TaskId,
                HostChosen c => c.TaskId,
                _ => (Guid?)null,
            };
            if (task is { } id && !byTask.ContainsKey(id))
            {
                starts.Add(id);
                byTask[id] = [];
            }
        }

        foreach (var e in ordered)
        {
            var task = e.Stream == vmId ? TaskOf(e.Data) : e.Stream;
            if (task is { } id && byTask.TryGetValue(id, out var list))
            {
                list.Add(e);
            }
        }

        return [.. starts.Select(id => Story(vmId, id, byTask[id]))];
    }

    private static StartStory Story(Guid vmId, Guid taskId, IReadOnlyList<RecordedEvent> events)
    {
        var own = events.Where(e => e.Stream == vmId).ToList();
        var first = own[0];
        var added = own.Select(e => e.Data).OfType<OperationAdded>().FirstOrDefault(a => StartOperations.Contains(a.Operation));
        var refused = own.Select(e => e.Data).OfType<StartRefused>().FirstOrDefault();
        var choice = own.Select(e => e.Data).OfType<HostChosen>().FirstOrDefault();
        var scheduled = own.Select(e => e.Data).OfType<ScheduledToBeResidentOnSet>().FirstOrDefault();
        var operation = added?.Operation ?? refused?.Operation ?? choice?.Operation ?? VmOperation.Start.ToWire();
        var steps = own.Select(e => e.Data is IHostStep s ? new StartStep(e.Type, s.At ?? e.At, s.DurationMs) : null).OfType<StartStep>().ToImmutableArray();

        return new StartStory(
            taskId,
            operation,
            first.At,
            first.Actor,
            first.CorrelationId,
            operation == VmOperation.StartOn.ToWire() && choice is { Category: PlacementReplay.StartOn } ? choice.HostId : null,
            scheduled?.StartPaused ?? false,
            choice,
            steps,
            Outcome(vmId, events),
            choice is null
                ? new PlacementReplayResult(false, false, null, null, [], refused is not null
                    ? $"refused before placement ({refused.Code}): no host was chosen, so there is nothing to replay"
                    : "no host choice was recorded for this start, so there is nothing to replay")
                : PlacementReplay.Replay(choice));
    }

    private static StartOutcome Outcome(Guid vmId, IReadOnlyList<RecordedEvent> events)
    {
        foreach (var e in events)
        {
            var outcome = e.Data switch
            {
                StartRefused r when e.Stream == vmId => new StartOutcome(StartOutcomes.Failed, r.Code, Params(r.Params), e.At),
                StartFailed f when e.Stream == vmId => new StartOutcome(
                    f.Code == ErrorCodes.TaskCancelled ? StartOutcomes.Cancelled : StartOutcomes.Failed, f.Code, Params(f.Params), e.At),
                ResidentOnSet r when e.Stream == vmId => new StartOutcome(
                    r.PowerState == VmPowerState.Paused ? StartOutcomes.Paused : StartOutcomes.Running, null, [], e.At),
                TaskCancelled when e.Stream != vmId => new StartOutcome(StartOutcomes.Cancelled, ErrorCodes.TaskCancelled, [e.Stream.ToString()], e.At),
                TaskFailed f when e.Stream != vmId => new StartOutcome(StartOutcomes.Failed, f.ErrorInfo.FirstOrDefault(), [.. f.ErrorInfo.Skip(1)], e.At),
                _ => null,
            };
            if (outcome is not null)
            {
                return outcome;
            }
        }

        return new StartOutcome(StartOutcomes.Pending, null, [], null);
    }

    private static ImmutableArray<string> Params(ImmutableArray<string> p) => p.IsDefault ? [] : p;

    /// <summary>The task an event of the VM's stream belongs to (null: none, or not one a start writes).</summary>
    private static Guid? TaskOf(object data) => data switch
    {
        OperationAdded e => e.TaskId,
        OperationRemoved e => e.TaskId,
        StartRefused e => e.TaskId,
        HostChosen e => e.TaskId,
        ScheduledToBeResidentOnSet e => e.TaskId,
        ScheduledToBeResidentOnCleared e => e.TaskId,
        IHostStep e => e.TaskId,
        ResidentOnSet e => e.TaskId,
        StartFailed e => e.TaskId,
        RrdPushed e => e.TaskId,
        OperationAbandoned e => e.TaskId,
        _ => null,
    };
}
