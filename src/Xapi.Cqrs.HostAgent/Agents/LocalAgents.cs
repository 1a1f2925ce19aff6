using System.Collections.Concurrent;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>Xapi:Agent:* settings of the host agents.</summary>
public sealed record AgentSettings(TimeSpan CoalesceWindow)
{
    public static readonly TimeSpan DefaultCoalesceWindow = TimeSpan.FromMilliseconds(100);

    /// <summary>How many pieces of agent work run at once in this process (xenopsd's worker pool, bounded by database connections).</summary>
    public int MaxConcurrentWork { get; init; } = 64;
}

/// <summary>
/// The host agents this process runs: one per host whose hypervisor is simulated (in-process). Work arrives
/// right after the commit that asks for it (<see cref="ICommitObserver"/>), and again from the durable
/// subscription, the source of truth after a restart; work already running is not started twice, and
/// every sequence first checks that its operation is still open. Work for a VM is serialised per VM
/// (xenopsd's per-VM queue) and runs in parallel across VMs.
/// </summary>
public sealed class LocalAgents(IServiceScopeFactory scopes, HypervisorRegistry registry, ReportBatcher reports, AgentSettings settings, TimeProvider time,
    IHostApplicationLifetime lifetime, ILogger<LocalAgents> log) : IHostedService, ICommitObserver
{
    private readonly ConcurrentDictionary<Guid, Task> running = new();
    private readonly ConcurrentDictionary<Guid, SemaphoreSlim> perVm = new();
    private readonly SemaphoreSlim slots = new(settings.MaxConcurrentWork, settings.MaxConcurrentWork);
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentDictionary<Guid, string> subjects = new();

    /// <summary>Work committed by this process: handed on at once, without waiting for the daemon.</summary>
    public void OnCommitted(IReadOnlyList<IEvent> events)
    {
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

        var start = new Task<Task>(() => RunAsync(work));
        var run = start.Unwrap();
        if (!running.TryAdd(work.TaskId, run))
        {
            return; // already running
        }

        run.ContinueWith(_ => running.TryRemove(new KeyValuePair<Guid, Task>(work.TaskId, run)), TaskScheduler.Default);
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

    /// <summary>The hypervisor of a simulated host, created on first use from the host's record.</summary>
    public IHypervisor? HypervisorFor(Host host) =>
        host.Hypervisor == "simulated" ? registry.GetOrCreateSimulated(host.Id, host.MemoryTotal, host.MemoryOverhead, time)
        : registry.TryGet(host.Id, out var hv) ? hv : null;

    private async Task RunAsync(AgentWork work)
    {
        var gate = perVm.GetOrAdd(work.VmId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(stopping.Token).ConfigureAwait(false);
        await slots.WaitAsync(stopping.Token).ConfigureAwait(false);
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
                        .RunAsync(start, stopping.Token);
                    break;
                case AgentWork.HardShutdown shutdown:
                    await HardShutdownAsync(shutdown, session, As);
                    break;
                case AgentWork.Unpause unpause:
                    await new UnpauseSequence(this, session, As).RunAsync(unpause, stopping.Token);
                    break;
                case AgentWork.DomainVanished vanished:
                    await As("host-agent:reconcile").Send(new Application.Vms.VmHalted.Command(vanished.VmId, vanished.HostId, "the hypervisor reports no domain for this VM"), stopping.Token);
                    break;
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // shutting down: the operation stays open and is reconciled at the next start of the service
        }
        catch (Exception e)
        {
            log.LogError(e, "host agent work {Work} failed", work);
        }
        finally
        {
            slots.Release();
            gate.Release();
        }
    }

    /// <summary>
    /// The member side of VM.hard_shutdown: destroy the VM's domain (idempotent: a domain already gone is fine,
    /// so a shutdown found open after a restart is simply done again), then report the move to Halted.
    /// </summary>
    private async Task HardShutdownAsync(AgentWork.HardShutdown work, IQuerySession session, Func<string, AgentCommands> commandsAs)
    {
        var vm = await session.LoadAsync<Vm>(work.VmId, stopping.Token);
        if (vm is null || !vm.CurrentOperations.ContainsKey(work.TaskId) || vm.ResidentOn is not { } hostId
            || await AgentFor(hostId, session) is not { } agent)
        {
            return;
        }

        var commands = commandsAs(agent.Subject);
        try
        {
            await agent.Hypervisor.DestroyDomainAsync(vm.Id, stopping.Token);
        }
        catch (HypervisorException e)
        {
            await commands.Send(new Application.Vms.HardShutdownVm.Failed(vm.Id, work.TaskId, e.Code, e.Params), CancellationToken.None);
            return;
        }

        await commands.Send(new Application.Vms.HardShutdownVm.Done(vm.Id, work.TaskId, hostId), stopping.Token);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() => _ = Task.Run(async () =>
        {
            try
            {
                await ReconcileAsync(stopping.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "reconciliation after start failed");
            }
        }));
        return Task.CompletedTask;
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
        foreach (var vm in await session.Query<Vm>().Where(v => v.ScheduledToBeResidentOn != null || v.ResidentOn != null).ToListAsync(ct))
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
                    case VmOperation.Unpause:
                        Dispatch(new AgentWork.Unpause(vm.Id, taskId, null));
                        break;
                    case VmOperation.HardShutdown:
                        Dispatch(new AgentWork.HardShutdown(vm.Id, taskId, null));
                        break;
                    default:
                        log.LogWarning("VM {Vm} has an open {Operation} ({Task}) that no agent sequence owns", vm.Id, op.ToWire(), taskId);
                        break;
                }
            }

            if (vm.ResidentOn is not null && vm.PowerState is VmPowerState.Running or VmPowerState.Paused
                && vm.CurrentOperations.IsEmpty && hypervisor.FindDomain(vm.Id) is null)
            {
                Dispatch(new AgentWork.DomainVanished(vm.Id, hostId));
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        await Task.WhenAll(running.Values).WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        reports.Complete();
    }
}
