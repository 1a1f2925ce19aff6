using System.Collections.Concurrent;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>Xapi:Agent:* settings of the host agents.</summary>
public sealed record AgentSettings(TimeSpan CoalesceWindow)
{
    public static readonly TimeSpan DefaultCoalesceWindow = TimeSpan.FromMilliseconds(100);

    /// <summary>xenopsd: a guest reboot within the minimum reboot delay of its start waits this long (Xapi:Agent:RebootDelay).</summary>
    public static readonly TimeSpan DefaultRebootDelay = TimeSpan.FromSeconds(15);

    /// <summary>How many pieces of agent work run at once in this process (xenopsd's worker pool, bounded by database connections).</summary>
    public int MaxConcurrentWork { get; init; } = 64;

    /// <summary>Xapi:Deadlines:* — how long an operation may stay open (a clean shutdown waits this long for the guest).</summary>
    public Application.Admin.OperationDeadlines Deadlines { get; init; } = new();

    /// <summary>How long a too-early guest reboot waits before the domain is rebuilt.</summary>
    public TimeSpan RebootDelay { get; init; } = DefaultRebootDelay;

    public static readonly TimeSpan DefaultDeadlineSweep = TimeSpan.FromSeconds(5);

    /// <summary>How often the open operations are checked against their deadlines (Xapi:Agent:DeadlineSweep); also the grace past a deadline.</summary>
    public TimeSpan DeadlineSweep { get; init; } = DefaultDeadlineSweep;

    /// <summary>
    /// Xapi:HostId — set in an agent process (src/Xapi.Cqrs.HostAgent run on its own): the one host this process drives.
    /// Unset in the service, which drives every in-process host and never an external one.
    /// </summary>
    public Guid? OnlyHost { get; init; }

    /// <summary>The durable subscription's name (its checkpoint): the service's, or one per agent process.</summary>
    public string SubscriptionName => OnlyHost is { } host ? $"host-agent-{host}" : "host-agents";

    /// <summary>True when this process drives the host's agent.</summary>
    public bool Drives(Host host) => OnlyHost is { } only ? host.Id == only : !host.HasExternalAgent;

    /// <summary>From Xapi:Agent:CoalesceWindow, RebootDelay and DeadlineSweep (the defaults where unset), with the operations' deadlines.</summary>
    public static AgentSettings From(IConfiguration config, Application.Admin.OperationDeadlines deadlines) =>
        new(config.GetValue<TimeSpan?>("Xapi:Agent:CoalesceWindow") ?? DefaultCoalesceWindow)
        {
            Deadlines = deadlines,
            RebootDelay = config.GetValue<TimeSpan?>("Xapi:Agent:RebootDelay") ?? DefaultRebootDelay,
            DeadlineSweep = config.GetValue<TimeSpan?>("Xapi:Agent:DeadlineSweep") ?? DefaultDeadlineSweep,
        };
}

/// <summary>
/// The host agents this process runs: one per host whose hypervisor is simulated (in-process). Work arrives
/// right after the commit that asks for it (<see cref="ICommitObserver"/>), and again from the durable
/// subscription, the source of truth after a restart; work already running is not started twice, and
/// every sequence first checks that its operation is still open. Work for a VM is serialised per VM
/// (xenopsd's per-VM queue) and runs in parallel across VMs.
/// </summary>
/// <remarks>
/// Several service nodes may share one database, and each runs this; but only one may drive a host's hypervisor. So the
/// agents act only while this process runs their subscription (<see cref="AgentSettings.SubscriptionName"/>; in HotCold
/// mode on one node at a time, <see cref="DaemonNode"/>): while it does not, commits hand nothing on and nothing is
/// reconciled or swept. When it starts here (at start-up, or when this node takes the subscription over from a dead one) the
/// agents reconcile, as after a restart, and the subscription delivers what its checkpoint had not reached.
/// </remarks>
public sealed class LocalAgents(IServiceScopeFactory scopes, HypervisorRegistry registry, ReportBatcher reports, AgentSettings settings, TimeProvider time,
    IHostApplicationLifetime lifetime, DaemonNode daemon, ILogger<LocalAgents> log) : IHostedService, ICommitObserver
{
    private volatile bool active;

    private readonly ConcurrentDictionary<Guid, Task> running = new();
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> cancels = new();
    private readonly ConcurrentDictionary<Guid, bool> watched = new();

    /// <summary>The domain stops queued and not yet handled, by VM and domid: one report of a stop at a time.</summary>
    private readonly ConcurrentDictionary<(Guid Vm, long Domid), byte> stopsQueued = new();
    private readonly ConcurrentDictionary<Guid, SemaphoreSlim> perVm = new();
    private readonly SemaphoreSlim slots = new(settings.MaxConcurrentWork, settings.MaxConcurrentWork);
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentDictionary<Guid, string> subjects = new();
    private readonly ConcurrentDictionary<Guid, long> depth = new(); // host → work handed on and not finished (metrics)

    /// <summary>The host a piece of work names (Guid.Empty when it names none: a power operation's host is read when it runs).</summary>
    private static Guid HostOf(AgentWork work) => work switch
    {
        AgentWork.Start s => s.HostId,
        AgentWork.Device d => d.HostId,
        AgentWork.DeviceDeadline d => d.HostId,
        AgentWork.GuestStopped g => g.HostId,
        AgentWork.Orphan o => o.HostId,
        AgentWork.Abandon a => a.HostId,
        AgentWork.DomainVanished v => v.HostId,
        _ => Guid.Empty,
    };

    /// <summary>Work committed by this process: handed on at once, without waiting for the daemon.</summary>
    public void OnCommitted(IReadOnlyList<IEvent> events)
    {
        if (!active)
        {
            return; // another node drives the agents, or the subscription has not started here yet (it delivers this later)
        }

        foreach (var e in events)
        {
            if (AgentWork.From(e) is { } work)
            {
                Dispatch(work);
            }
        }
    }

    public void Dispatch(AgentWork work)
    {
        if (stopping.IsCancellationRequested)
        {
            return;
        }

        if (work is AgentWork.Cancel cancel)
        {
            if (cancels.TryGetValue(cancel.CancelledTask, out var cts))
            {
                cts.Cancel();
            }

            return;
        }

        if (work is AgentWork.GuestStopped queued && !stopsQueued.TryAdd((queued.VmId, queued.Domid), 0))
        {
            return; // that stop is queued already (reported by the hypervisor and by the sweep)
        }

        var start = new Task<Task>(() => RunAsync(work));
        var run = start.Unwrap();
        if (!running.TryAdd(work.TaskId, run))
        {
            return; // already running
        }

        var host = HostOf(work);
        depth.AddOrUpdate(host, 1, (_, n) => n + 1);
        run.ContinueWith(_ =>
        {
            running.TryRemove(new KeyValuePair<Guid, Task>(work.TaskId, run));
            depth.AddOrUpdate(host, 0, (_, n) => n - 1);
        }, TaskScheduler.Default);
        start.Start(TaskScheduler.Default);
    }

    /// <summary>The hypervisor and agent identity of a host this process drives (null: not one of ours); the host is read once.</summary>
    private async Task<(IHypervisor Hypervisor, string Subject)?> AgentFor(Guid hostId, IQuerySession session)
    {
        if (subjects.TryGetValue(hostId, out var known) && registry.TryGet(hostId, out var hypervisor))
        {
            return (hypervisor, known);
        }

        var host = await session.LoadAsync<Host>(hostId, stopping.Token);
        if (host is null || HypervisorFor(host) is not { } found)
        {
            return null;
        }

        var subject = subjects.GetOrAdd(hostId, $"host-agent:{host.NameLabel}");
        return (found, subject);
    }

    /// <summary>The hypervisor of a simulated or qemu host, created on first use from the host's record.</summary>
    public IHypervisor? HypervisorFor(Host host)
    {
        if (!settings.Drives(host))
        {
            return null; // an external host's agent is its own process; an agent process drives only its host
        }

        var hypervisor = host.Hypervisor switch
        {
            "simulated" => registry.GetOrCreateSimulated(host.Id, host.MemoryTotal, host.MemoryOverhead, time),
            Hypervisor.Qemu.QemuHost.KindName => registry.GetOrCreateQemu(host.Id, host.MemoryTotal, host.MemoryOverhead, time),
            _ => registry.TryGet(host.Id, out var hv) ? hv : null,
        };
        if (hypervisor is not null && watched.TryAdd(host.Id, true))
        {
            // xenopsd's event thread: a domain that stops by itself is followed by the VM's actions_after_*.
            hypervisor.DomainStopped += (_, e) => Dispatch(new AgentWork.GuestStopped(e.VmId, host.Id, e.Domid, e.Reason.ToWire()));
        }

        return hypervisor;
    }

    private async Task RunAsync(AgentWork work)
    {
        var gate = perVm.GetOrAdd(work.VmId, _ => new SemaphoreSlim(1, 1));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
        cancels[work.TaskId] = cancel;
        try
        {
            await gate.WaitAsync(cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            cancels.TryRemove(work.TaskId, out _);
            Handled(work);
            return; // cancelled while queued behind other work of the VM
        }

        await slots.WaitAsync(stopping.Token).ConfigureAwait(false);
        var ct = cancel.Token;
        // The agent's part of the command's trace: a child of the span that appended the event asking for this work.
        System.Diagnostics.ActivityContext.TryParse(work.TraceParent, null, out var parent);
        using var activity = Application.Telemetry.XapiTelemetry.Source.StartActivity("xapi.agent." + work.GetType().Name, System.Diagnostics.ActivityKind.Internal, parent);
        activity?.SetTag("xapi.vm", work.VmId);
        activity?.SetTag("xapi.task", work.TaskId);
        activity?.SetTag("xapi.correlation_id", work.CorrelationId);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
            var correlation = work.CorrelationId ?? Guid.NewGuid().ToString("N");
            AgentCommands As(string subject) => new(scopes, subject, correlation, work.TaskId.ToString());
            switch (work)
            {
                case AgentWork.Start start:
                    if (await AgentFor(start.HostId, session) is not { } agent)
                    {
                        return; // not a host this process drives
                    }

                    await new StartSequence(agent.Hypervisor, session, As(agent.Subject), reports, time, settings.CoalesceWindow, log)
                        .RunAsync(start, ct);
                    break;
                case AgentWork.Power power:
                    await PowerAsync(power, session, As, ct);
                    break;
                case AgentWork.GuestStopped stopped:
                    await GuestStoppedAsync(stopped, session, As, ct);
                    break;
                case AgentWork.Orphan orphan:
                    await OrphanAsync(orphan, session, As, ct);
                    break;
                case AgentWork.Abandon abandon:
                    await AbandonAsync(abandon, session, As, ct);
                    break;
                case AgentWork.Device device:
                    await new DeviceSequence(this, session, As, time, log).RunAsync(device, ct);
                    break;
                case AgentWork.DeviceDeadline expired:
                    await new DeviceSequence(this, session, As, time, log).ExpireAsync(expired, ct);
                    break;
                case AgentWork.DomainVanished vanished:
                    await As("host-agent:reconcile").Send(new Application.Vms.VmHalted.Command(vanished.VmId, vanished.HostId, "the hypervisor reports no domain for this VM"), ct);
                    break;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // shutting down: the operation stays open and is reconciled at the next start of the service;
            // cancelled (overtaken or abandoned): whoever cancelled it has ended the operation
        }
        catch (Exception e)
        {
            log.LogError(e, "host agent work {Work} failed", work);
        }
        finally
        {
            cancels.TryRemove(work.TaskId, out _);
            Handled(work);
            slots.Release();
            gate.Release();
        }
    }

    private void Handled(AgentWork work)
    {
        if (work is AgentWork.GuestStopped stopped)
        {
            stopsQueued.TryRemove((stopped.VmId, stopped.Domid), out _);
        }
    }

    /// <summary>The member side of the power operations (<see cref="PowerSequence"/>), on the VM's resident host.</summary>
    private async Task PowerAsync(AgentWork.Power work, IQuerySession session, Func<string, AgentCommands> commandsAs, CancellationToken ct)
    {
        var vm = await session.LoadAsync<Vm>(work.VmId, ct);
        if (vm is null || !vm.CurrentOperations.ContainsKey(work.TaskId))
        {
            return; // already ended
        }

        if (vm.ResidentOn is not { } hostId)
        {
            // The VM left its host meanwhile (a hard shutdown that joined this operation ran first): xenopsd would find
            // no domain to act on. The operation fails with the power state it found; it is never left open.
            var allowed = VmLifecycle.AllowedPowerStates(work.Operation, vm.IsControlDomain);
            await commandsAs("host-agent:reconcile").Send(new Application.Vms.PowerOperationVm.Failed(vm.Id, work.TaskId, null, work.Operation,
                ErrorCodes.VmBadPowerState, [vm.Id.ToString(), string.Join(", ", allowed.Select(a => a.ToWire())), vm.PowerState.ToWire()], [], DomainGone: false), ct);
            return;
        }

        if (await AgentFor(hostId, session) is not { } agent)
        {
            return; // another process drives that host
        }

        await new PowerSequence(agent.Hypervisor, session, commandsAs(agent.Subject), time, settings.CoalesceWindow,
                settings.Deadlines.For(work.Operation.ToWire()), log)
            .RunAsync(vm, hostId, work.TaskId, work.Operation, ct);
    }

    /// <summary>
    /// A domain stopped by itself: a reboot too soon after the start waits (xenopsd's 15 s), then the decision opens the
    /// follow-up operation, which the agent runs like any other.
    /// </summary>
    private async Task GuestStoppedAsync(AgentWork.GuestStopped work, IQuerySession session, Func<string, AgentCommands> commandsAs, CancellationToken ct)
    {
        var vm = await session.LoadAsync<Vm>(work.VmId, ct);
        if (vm is null || !GuestStops.Follows(vm, work.HostId, work.Domid) || await AgentFor(work.HostId, session) is not { } agent)
        {
            return; // stale, or an operation owns the VM: the sweep reports the stop again once it has ended
        }

        if (work.Reason == "reboot" && GuestStops.ActionFor(vm, work.Reason, time.GetUtcNow()).Action == GuestStops.Restart
            && GuestStops.RebootTooSoon(vm, time.GetUtcNow()))
        {
            await Task.Delay(settings.RebootDelay, time, ct);
        }

        await commandsAs(agent.Subject).Send(new Application.Vms.GuestStopped.Command(work.VmId, work.HostId, work.Domid, work.Reason), ct);
    }

    /// <summary>A domain nothing accounts for is destroyed; a VM recorded running here on it moves to Halted.</summary>
    private async Task OrphanAsync(AgentWork.Orphan work, IQuerySession session, Func<string, AgentCommands> commandsAs, CancellationToken ct)
    {
        if (await AgentFor(work.HostId, session) is not { } agent)
        {
            return;
        }

        // Reconciliation read the VM records before it listed the domains: a start placed here since then has a domain that
        // is no orphan. Read the record again, in this VM's turn of the queue.
        if (!work.VmResidentHere && await session.LoadAsync<Vm>(work.VmId, ct) is { } now
            && (now.ScheduledToBeResidentOn == work.HostId || now.ResidentOn == work.HostId))
        {
            return;
        }

        await agent.Hypervisor.DestroyDomainAsync(work.VmId, ct);
        if (work.VmResidentHere)
        {
            await commandsAs("host-agent:reconcile").Send(new Application.Vms.VmHalted.Command(work.VmId, work.HostId,
                "its domain was never made survivable (action-request=poweroff): destroyed"), ct);
        }
    }

    /// <summary>An operation past its deadline: its work stops, then it is finished or rolled back from the hypervisor's truth.</summary>
    private async Task AbandonAsync(AgentWork.Abandon work, IQuerySession session, Func<string, AgentCommands> commandsAs, CancellationToken ct)
    {
        var vm = await session.LoadAsync<Vm>(work.VmId, ct);
        if (vm is null || PowerOperations.OpenOperation(vm, work.OpenTask) is not { } op || await AgentFor(work.HostId, session) is not { } agent)
        {
            return;
        }

        var domain = agent.Hypervisor.FindDomain(vm.Id);
        if (op is VmOperation.Start or VmOperation.StartOn || (op is VmOperation.CleanReboot or VmOperation.HardReboot && domain?.ActionRequest is not null))
        {
            await agent.Hypervisor.DestroyDomainAsync(vm.Id, CancellationToken.None); // a start is undone as on failure
            domain = null;
        }

        log.LogWarning("{Operation} ({Task}) of VM {Vm} is open past its deadline of {Deadline}: abandoned", op.ToWire(), work.OpenTask, vm.Id, work.Deadline);
        await commandsAs(agent.Subject).Send(new Application.Vms.AbandonOperation.Command(vm.Id, work.OpenTask, work.HostId, work.Deadline, domain is null), CancellationToken.None);
    }

    /// <summary>Whether the agents act in this process now: their subscription runs here.</summary>
    public bool Active => active;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        AgentQueues.Register(this, () => depth.Select(d => (d.Key, "work", d.Value)).Concat(reports.Depths().Select(r => (r.Host, "reports", r.Depth))));
        lifetime.ApplicationStarted.Register(() => _ = Task.Run(() => RunWhileActiveAsync(stopping.Token)));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Every <see cref="DaemonNode.Poll"/>: whether the subscription runs here. Once it does, reconcile, then sweep the
    /// deadlines every <see cref="AgentSettings.DeadlineSweep"/> for as long as it keeps running here.
    /// </summary>
    private async Task RunWhileActiveAsync(CancellationToken ct)
    {
        using var tick = new PeriodicTimer(DaemonNode.Poll, time);
        var nextSweep = DateTimeOffset.MaxValue;
        try
        {
            do
            {
                var runs = daemon.Runs(settings.SubscriptionName);
                if (runs && !active)
                {
                    active = true;
                    log.LogInformation("the host agents' subscription {Subscription} runs on this node ({Node}): the agents act here", settings.SubscriptionName, daemon.Node.Name);
                    try
                    {
                        await ReconcileAsync(ct);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        log.LogError(e, "reconciliation after start failed");
                    }

                    nextSweep = time.GetUtcNow() + settings.DeadlineSweep;
                }
                else if (!runs && active)
                {
                    active = false;
                    log.LogWarning("the host agents' subscription {Subscription} no longer runs on this node ({Node}): the agents stop acting here", settings.SubscriptionName, daemon.Node.Name);
                }

                if (active && time.GetUtcNow() >= nextSweep)
                {
                    nextSweep = time.GetUtcNow() + settings.DeadlineSweep;
                    try
                    {
                        await SweepDeadlinesAsync(ct);
                        await SweepStoppedDomainsAsync(ct);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        log.LogError(e, "the deadline sweep failed");
                    }
                }
            }
            while (await tick.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>
    /// After a (re)start of the service, from the read models (not the subscription's checkpoint, which may
    /// have passed work that was never done): every operation still open on a VM of a host this process
    /// drives is handed to its agent again — a start is finished or undone, an unpause redone — and every
    /// VM recorded as running here without a domain is reconciled to Halted (§6.5, §1.7).
    /// </summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        var hosts = (await session.Query<Host>().ToListAsync(ct)).ToDictionary(h => h.Id);
        var placed = await session.Query<Vm>().Where(v => v.ScheduledToBeResidentOn != null || v.ResidentOn != null).ToListAsync(ct);
        foreach (var vm in placed)
        {
            var hostId = vm.ScheduledToBeResidentOn ?? vm.ResidentOn!.Value;
            if (!hosts.TryGetValue(hostId, out var host) || HypervisorFor(host) is not { } hypervisor)
            {
                continue;
            }

            foreach (var (taskId, op) in vm.CurrentOperations)
            {
                switch (op)
                {
                    case VmOperation.Start or VmOperation.StartOn:
                        // The request's options (paused or not) are on the reservation event of this task.
                        var scheduled = await session.Events.QueryRawEventDataOnly<ScheduledToBeResidentOnSet>()
                            .Where(e => e.TaskId == taskId).FirstOrDefaultAsync(ct);
                        Dispatch(new AgentWork.Start(vm.Id, taskId, hostId, scheduled?.StartPaused ?? false, null, Recovered: true));
                        break;
                    case var power when AgentWork.IsPower(power):
                        Dispatch(new AgentWork.Power(vm.Id, taskId, power, null));
                        break;
                    default:
                        log.LogWarning("VM {Vm} has an open {Operation} ({Task}) that no agent sequence owns", vm.Id, op.ToWire(), taskId);
                        break;
                }
            }

            if (vm.ResidentOn is not null && vm.PowerState is VmPowerState.Running or VmPowerState.Paused && vm.CurrentOperations.IsEmpty)
            {
                // The hypervisor's truth, as xenopsd's resync: a domain still running keeps its host and domid.
                switch (hypervisor.FindDomain(vm.Id))
                {
                    case null:
                        Dispatch(new AgentWork.DomainVanished(vm.Id, hostId));
                        break;
                    case { ActionRequest: not null }:
                        Dispatch(new AgentWork.Orphan(vm.Id, hostId, VmResidentHere: true));
                        break;
                    case { State: DomainStates.Shutdown, ShutdownReason: { } reason } stopped:
                        Dispatch(new AgentWork.GuestStopped(vm.Id, hostId, stopped.Domid, reason.ToWire()));
                        break;
                }
            }
        }

        await ReconcileDevicesAsync(session, hosts, ct);

        // Domains no VM record accounts for (a start undone, a shutdown recorded, before this process died).
        var accounted = placed.ToDictionary(v => v.Id, v => (v.ScheduledToBeResidentOn ?? v.ResidentOn)!.Value);
        foreach (var host in hosts.Values)
        {
            if (HypervisorFor(host) is not { } hypervisor)
            {
                continue;
            }

            foreach (var domain in hypervisor.ListDomains().Where(d => accounted.GetValueOrDefault(d.VmId) != host.Id))
            {
                Dispatch(new AgentWork.Orphan(domain.VmId, host.Id, VmResidentHere: false));
            }
        }
    }

    /// <summary>
    /// Device plugs and unplugs still pending after a restart: each is handed again to the agent of its VM's host, which
    /// finishes it (<see cref="DeviceSequence"/>: a plug is redone from a clean slate, an unplug redone) or, when its mark
    /// was cleared meanwhile (the VM halted), ends its task. A pending one whose VM now runs nowhere only has its task to
    /// end, which needs no hypervisor.
    /// </summary>
    private async Task ReconcileDevicesAsync(IQuerySession session, IReadOnlyDictionary<Guid, Host> hosts, CancellationToken ct)
    {
        var pending = await session.Query<Domain.Tasks.XapiTask>()
            .Where(t => t.Status == Domain.Tasks.TaskStatus.Pending && (t.ObjectClass == ObjectClass.Vbd || t.ObjectClass == ObjectClass.Vif))
            .ToListAsync(ct);
        foreach (var task in pending)
        {
            var vmId = task.ObjectClass == ObjectClass.Vbd
                ? (await session.LoadAsync<Domain.Vbds.Vbd>(task.ObjectId, ct))?.VmId
                : (await session.LoadAsync<Domain.Vifs.Vif>(task.ObjectId, ct))?.VmId;
            if (vmId is not { } id || await session.LoadAsync<Vm>(id, ct) is not { } vm || task.Name.Split('.') is not [_, var op])
            {
                continue;
            }

            if (vm.ResidentOn is { } hostId)
            {
                if (hosts.TryGetValue(hostId, out var host) && HypervisorFor(host) is not null)
                {
                    Dispatch(new AgentWork.Device(vm.Id, task.Id, task.ObjectId, task.ObjectClass, op, hostId, null));
                }
            }
            else
            {
                Dispatch(new AgentWork.Device(vm.Id, task.Id, task.ObjectId, task.ObjectClass, op, Guid.Empty, null));
            }
        }
    }

    /// <summary>
    /// Every <see cref="AgentSettings.DeadlineSweep"/>: each VM operation open past its deadline (Xapi:Deadlines) on a host
    /// this process drives is stopped and ended by this agent (<see cref="AgentWork.Abandon"/>).
    /// </summary>
    public async Task SweepDeadlinesAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        var now = time.GetUtcNow();
        // The sweep's period is the grace: a sequence that ends itself at its deadline (a clean shutdown's wait) reports first.
        var overdue = (await session.Query<Projections.Operations.OpenOperation>().ToListAsync(ct))
            .Where(o => o.Since + settings.Deadlines.For(o.Operation) + settings.DeadlineSweep < now).ToList();
        foreach (var o in overdue.Where(o => o.ObjectClass == ObjectClass.Vm))
        {
            var vm = await session.LoadAsync<Vm>(o.ObjectId, ct);
            if (vm is null || (vm.ScheduledToBeResidentOn ?? vm.ResidentOn) is not { } hostId || await AgentFor(hostId, session) is null)
            {
                continue;
            }

            if (cancels.TryGetValue(o.TaskId, out var cts))
            {
                await cts.CancelAsync();
            }

            Dispatch(new AgentWork.Abandon(vm.Id, o.TaskId, hostId, settings.Deadlines.For(o.Operation)));
        }

        await SweepDeviceDeadlinesAsync(session, overdue, ct);
    }

    /// <summary>
    /// Every <see cref="AgentSettings.DeadlineSweep"/>: a domain that stopped by itself on a host this process drives, whose
    /// stop its VM has not followed, is reported again (<see cref="GuestStops.Follows"/>). Its first report is dropped when
    /// an operation owned the VM then (a pause or reboot racing the guest's own poweroff); this one comes once it has ended.
    /// </summary>
    public async Task SweepStoppedDomainsAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        var stopped = new List<(Guid HostId, DomainInfo Domain, ShutdownReason Reason)>();
        foreach (var host in await session.Query<Host>().ToListAsync(ct))
        {
            if (HypervisorFor(host) is { } hypervisor)
            {
                stopped.AddRange(hypervisor.ListDomains()
                    .Where(d => d is { State: DomainStates.Shutdown, ShutdownReason: not null, ActionRequest: null })
                    .Select(d => (host.Id, d, d.ShutdownReason!.Value)));
            }
        }

        if (stopped.Count == 0)
        {
            return;
        }

        var vms = (await session.LoadManyAsync<Vm>(ct, stopped.Select(s => s.Domain.VmId).Distinct())).ToDictionary(v => v.Id);
        foreach (var (hostId, domain, reason) in stopped)
        {
            if (vms.TryGetValue(domain.VmId, out var vm) && GuestStops.Follows(vm, hostId, domain.Domid))
            {
                log.LogInformation("VM {Vm}: domain {Domid} stopped by itself ({Reason}) and was not followed yet: reporting it again", vm.Id, domain.Domid, reason.ToWire());
                Dispatch(new AgentWork.GuestStopped(vm.Id, hostId, domain.Domid, reason.ToWire()));
            }
        }
    }

    /// <summary>Device plugs and unplugs open past their deadline on a host this process drives: stopped, then finished or rolled back.</summary>
    private async Task SweepDeviceDeadlinesAsync(IQuerySession session, IEnumerable<Projections.Operations.OpenOperation> overdue, CancellationToken ct)
    {
        foreach (var o in overdue.Where(o => o.ObjectClass is ObjectClass.Vbd or ObjectClass.Vif && o.Operation is "plug" or "unplug"))
        {
            var vmId = o.ObjectClass == ObjectClass.Vbd
                ? (await session.LoadAsync<Domain.Vbds.Vbd>(o.ObjectId, ct))?.VmId
                : (await session.LoadAsync<Domain.Vifs.Vif>(o.ObjectId, ct))?.VmId;
            if (vmId is not { } id || await session.LoadAsync<Vm>(id, ct) is not { ResidentOn: { } hostId } vm || await AgentFor(hostId, session) is null)
            {
                continue;
            }

            if (cancels.TryGetValue(o.TaskId, out var cts))
            {
                await cts.CancelAsync();
            }

            Dispatch(new AgentWork.DeviceDeadline(vm.Id, o.TaskId, o.ObjectId, o.ObjectClass, o.Operation, hostId, settings.Deadlines.For(o.Operation)));
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        AgentQueues.Unregister(this);
        await stopping.CancelAsync();
        await Task.WhenAll(running.Values).WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        reports.Complete();
    }
}
