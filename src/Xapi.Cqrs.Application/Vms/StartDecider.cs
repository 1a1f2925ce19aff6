using System.Threading.Channels;
using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// The pool's one placement loop. Starts are queued; the loop takes every start queued so far, locks the
/// streams they touch (VMs, devices, VDIs, then every host, in that order), decides them one after the
/// other with <see cref="StartDecision.Decide"/> — each on the pool view the previous one left — and
/// commits them all in one transaction (group commit). No placement races another: the host streams'
/// expected versions stay only as the safety net. A start not taken by the loop within
/// <see cref="PlacementSettings.DecideWithin"/> answers TOO_BUSY with nothing written. Across several service nodes on one
/// database, each batch first takes the pool's placement lease (a PostgreSQL advisory lock), so one node
/// decides at a time.
/// </summary>
public sealed class StartDecider(IDocumentStore store, PlacementSettings seeds, TimeProvider time, ILogger<StartDecider> log, ILogger<QuietConflictLogger> sessionLog)
    : BackgroundService
{
    public const int MaxBatch = 128;
    private const int MaxAttempts = 3;

    private readonly Channel<Pending> queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private long batches;
    private long decided;
    private long replans;
    private long busy;

    /// <summary>Counters since the service started: batches committed, starts decided, batches decided again (a chosen host had changed, or a race was lost), starts answered TOO_BUSY.</summary>
    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["startBatches"] = Interlocked.Read(ref batches),
        ["startsDecided"] = Interlocked.Read(ref decided),
        ["startReplans"] = Interlocked.Read(ref replans),
        ["startsBusy"] = Interlocked.Read(ref busy),
    };

    /// <summary>Raised when the loop takes a batch (its size), before it decides it: for metrics and tests.</summary>
    public event Action<int>? BatchTaken;

    /// <summary>Queues a start and waits for its decision: the task and VM version, or the refusal (thrown).</summary>
    public async Task<StartVm.Started> DecideAsync(StartVm.Command command, EventMetadata caller, CancellationToken ct)
    {
        using var activity = Telemetry.XapiTelemetry.Source.StartActivity("xapi.start.decide");
        activity?.SetTag("xapi.vm", command.VmId);
        activity?.SetTag("xapi.correlation_id", caller.CorrelationId);
        var queued = System.Diagnostics.Stopwatch.GetTimestamp();
        var pending = new Pending(command, caller);
        if (!queue.Writer.TryWrite(pending))
        {
            throw new ServiceBusyException("the placement loop is stopping", TimeSpan.FromSeconds(1));
        }

        try
        {
            var started = await pending.Decided.Task.WaitAsync(seeds.DecideWithin, time, ct);
            Telemetry.XapiTelemetry.StartDecision.Record(System.Diagnostics.Stopwatch.GetElapsedTime(queued).TotalSeconds, new KeyValuePair<string, object?>("outcome", "decided"));
            activity?.SetTag("xapi.task", started.TaskId);
            return started;
        }
        catch (XapiException)
        {
            Telemetry.XapiTelemetry.StartDecision.Record(System.Diagnostics.Stopwatch.GetElapsedTime(queued).TotalSeconds, new KeyValuePair<string, object?>("outcome", "refused"));
            throw;
        }
        catch (TimeoutException) when (pending.Abandon())
        {
            // Not taken by the loop yet: it never will be, so nothing of it is written.
            Interlocked.Increment(ref busy);
            Telemetry.XapiTelemetry.PlacementConflicts.Add(1, new KeyValuePair<string, object?>("kind", "busy"));
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ServiceBusyException.Code);
            throw new ServiceBusyException("the start could not be decided in time", TimeSpan.FromSeconds(1));
        }
        catch (TimeoutException)
        {
            // Taken: its batch is being decided and committed; the answer follows it.
            return await pending.Decided.Task.WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            pending.Abandon(); // the caller is gone: if the loop has not taken it, it never will
            throw;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(MaxBatch);
        while (await queue.Reader.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var next))
            {
                if (next.Claim())
                {
                    batch.Add(next);
                }
            }

            if (batch.Count > 0)
            {
                BatchTaken?.Invoke(batch.Count);
                await DecideBatchAsync(batch, stoppingToken);
            }
        }
    }

    private async Task DecideBatchAsync(List<Pending> batch, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var outcomes = await CommitAsync(batch, ct);
                Interlocked.Increment(ref batches);
                Interlocked.Add(ref decided, batch.Count);
                for (var i = 0; i < batch.Count; i++)
                {
                    outcomes[i].Invoke(batch[i].Decided);
                }

                return;
            }
            catch (Exception e) when (IsRace(e) && attempt < MaxAttempts)
            {
                Interlocked.Increment(ref replans);
                Telemetry.XapiTelemetry.PlacementConflicts.Add(1, new KeyValuePair<string, object?>("kind", "replan"));
                log.LogDebug("start batch of {Count} lost a race ({Reason}); deciding it again", batch.Count, e.Message);
            }
            catch (Exception e) when (IsRace(e))
            {
                Interlocked.Add(ref busy, batch.Count);
                Telemetry.XapiTelemetry.PlacementConflicts.Add(batch.Count, new KeyValuePair<string, object?>("kind", "busy"));
                batch.ForEach(p => p.Decided.TrySetException(new ServiceBusyException("the start could not be decided", TimeSpan.FromSeconds(1))));
                return;
            }
            catch (Exception e)
            {
                log.LogError(e, "a batch of {Count} starts could not be decided; nothing of it was written", batch.Count);
                batch.ForEach(p => p.Decided.TrySetException(e));
                return;
            }
        }
    }

    /// <summary>
    /// Locks and loads the batch's VMs and their devices, decides every start in order on the pool view, then
    /// locks the hosts the decisions chose. A chosen host that changed since the view was read (an agent
    /// reported meanwhile) is read again under its lock and the whole batch decided again on the fresh view,
    /// before anything is appended; so the commit that follows cannot lose a race. Then commits them together.
    /// </summary>
    private async Task<List<Action<TaskCompletionSource<StartVm.Started>>>> CommitAsync(List<Pending> batch, CancellationToken ct)
    {
        await using var session = ActorSessionFactory.OpenForMany(store, sessionLog);
        // The placement lease first: one decider at a time across service nodes.
        var loaded = await WriteSet.LoadAsync(session, [.. batch.Select(p => p.Command.VmId).Distinct()], ct, lease: "placement");
        // The view is read apart from the writing session (whose identity map would otherwise keep these
        // unlocked copies), so the hosts locked below are read again from the database.
        await using var reader = store.QuerySession();
        var view = PoolView.Of(await reader.Query<Domain.Hosts.Host>().ToListAsync(ct));
        var requests = batch.Select(p => new StartRequest(Guid.NewGuid(), p.Command.Host, p.Command.Paused, seeds.NextSeed(), p.Caller.Subject, time.GetUtcNow())).ToList();
        while (true)
        {
            var (decisions, results) = DecideAll(batch, requests, loaded.Fork(), view);
            var chosen = results.Where(r => r.Decision is { Accepted: true }).Select(r => r.Decision!.Placement!.HostId).Distinct().ToList();
            var fresh = await loaded.LockHostsAsync(session, chosen, ct);
            var stale = fresh.Where(h => !view.Hosts.TryGetValue(h.Id, out var seen) || seen.Version != h.Version).ToList();
            if (stale.Count > 0)
            {
                Interlocked.Increment(ref replans);
                Telemetry.XapiTelemetry.PlacementConflicts.Add(1, new KeyValuePair<string, object?>("kind", "replan"));
                view = PoolView.Of(view.Hosts.Values.Where(h => stale.All(s => s.Id != h.Id)).Concat(stale));
                continue;
            }

            await session.AppendAsync(decisions, loaded.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            var vmVersions = results.Select(r => r.VmId).Distinct()
                .ToDictionary(id => id, id => (loaded.VersionOf(id) ?? 0) + decisions.Sum(d => d.Item1.For(id).Count));
            return [.. results.Select(r => (Action<TaskCompletionSource<StartVm.Started>>)(r.Error is { } error
                ? done => done.TrySetException(error)
                : done => done.TrySetResult(new StartVm.Started(r.Decision!.Request.TaskId, vmVersions[r.VmId]))))];
        }
    }

    /// <summary>Every start of the batch, in order, each on the view and states the previous one left.</summary>
    private static (List<(Domain.Streams.Changes, EventMetadata?)> Decisions, List<(Guid VmId, StartDecision? Decision, XapiException? Error)> Results)
        DecideAll(List<Pending> batch, List<StartRequest> requests, WriteSet set, PoolView pool)
    {
        var decisions = new List<(Domain.Streams.Changes, EventMetadata?)>(batch.Count);
        var results = new List<(Guid VmId, StartDecision? Decision, XapiException? Error)>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var vmId = batch[i].Command.VmId;
            if (!set.Contains(vmId))
            {
                results.Add((vmId, null, XapiException.HandleInvalid(ObjectClass.Vm, vmId)));
                continue;
            }

            var decision = StartDecision.Decide(set.DevicesOf(vmId), requests[i], pool);
            pool = decision.Pool;
            set.Apply(decision.Changes);
            decisions.Add((decision.Changes, batch[i].Caller));
            results.Add((vmId, decision, decision.Refusal));
        }

        return (decisions, results);
    }

    /// <summary>Lost to another writer: a version check, a deadlock or a serialization failure. Nothing was written.</summary>
    private static bool IsRace(Exception e) =>
        QuietConflictLogger.IsExpectedConflict(e)
        || e is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure }
        || e.InnerException is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure };

    private sealed class Pending(StartVm.Command command, EventMetadata caller)
    {
        private int state; // 0 queued, 1 taken by the loop, 2 abandoned by its caller

        public StartVm.Command Command { get; } = command;

        public EventMetadata Caller { get; } = caller;

        public TaskCompletionSource<StartVm.Started> Decided { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Claim() => Interlocked.CompareExchange(ref state, 1, 0) == 0;

        public bool Abandon() => Interlocked.CompareExchange(ref state, 2, 0) == 0;
    }
}
