using System.Collections.Concurrent;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Store;
using Host = Xapi.Cqrs.Domain.Hosts.Host;
using Xapi.Cqrs.HostAgent.Hypervisor;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The host agents this process runs: one per host whose hypervisor is simulated (in-process). Work for
/// a VM is serialised per VM (xenopsd's per-VM queue) and runs in parallel across VMs; a piece of work
/// already running or done is not started again (the log may deliver an event twice after a restart).
/// </summary>
public sealed class LocalAgents(IServiceScopeFactory scopes, HypervisorRegistry registry, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<LocalAgents> log)
    : IHostedService
{
    private readonly ConcurrentDictionary<Guid, Task> running = new();
    private readonly ConcurrentDictionary<Guid, SemaphoreSlim> perVm = new();
    private readonly CancellationTokenSource stopping = new();

    public void Dispatch(AgentWork work)
    {
        if (stopping.IsCancellationRequested)
        {
            return;
        }

        running.GetOrAdd(work.TaskId, _ => Task.Run(() => RunAsync(work), CancellationToken.None));
    }

    /// <summary>The hypervisor of a simulated host, created on first use from the host's record.</summary>
    public IHypervisor? HypervisorFor(Host host) =>
        host.Hypervisor == "simulated" ? registry.GetOrCreateSimulated(host.Id, host.MemoryTotal, host.MemoryOverhead, time)
        : registry.TryGet(host.Id, out var hv) ? hv : null;

    private async Task RunAsync(AgentWork work)
    {
        var gate = perVm.GetOrAdd(work.VmId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(stopping.Token).ConfigureAwait(false);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
            var correlation = work.CorrelationId ?? Guid.NewGuid().ToString("N");
            AgentCommands As(string subject) => new(scopes, subject, correlation, work.TaskId.ToString());
            switch (work)
            {
                case AgentWork.Start start:
                    var host = await session.LoadAsync<Host>(start.HostId, stopping.Token);
                    if (host is null || HypervisorFor(host) is not { } hypervisor)
                    {
                        return; // not a host this process drives
                    }

                    await new StartSequence(hypervisor, session, As($"host-agent:{host.NameLabel}"), log).RunAsync(start, stopping.Token);
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
            // shutting down: the start stays open and is reconciled at the next start of the service
        }
        catch (Exception e)
        {
            log.LogError(e, "host agent work {Work} failed", work);
        }
        finally
        {
            gate.Release();
        }
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
    /// After a (re)start of the service: every start still open on a host this process drives is handed to
    /// its agent again as recovered work, and every VM recorded as running here without a domain is
    /// reconciled to Halted — what xapi's event sync does with xenopsd's state (§6.5, §1.7).
    /// </summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        var hosts = (await session.Query<Host>().ToListAsync(ct)).ToDictionary(h => h.Id);
        foreach (var vm in await session.Query<Domain.Vms.Vm>().Where(v => v.ScheduledToBeResidentOn != null || v.ResidentOn != null).ToListAsync(ct))
        {
            var hostId = vm.ScheduledToBeResidentOn ?? vm.ResidentOn!.Value;
            if (!hosts.TryGetValue(hostId, out var host) || HypervisorFor(host) is not { } hypervisor)
            {
                continue;
            }

            var start = vm.CurrentOperations.FirstOrDefault(kv => kv.Value is Domain.Vms.VmOperation.Start or Domain.Vms.VmOperation.StartOn);
            if (vm.ScheduledToBeResidentOn is not null && start.Key != Guid.Empty)
            {
                // The request's options (paused or not) are on the reservation event of this task.
                var scheduled = await session.Events.QueryRawEventDataOnly<Domain.Vms.ScheduledToBeResidentOnSet>()
                    .Where(e => e.TaskId == start.Key).FirstOrDefaultAsync(ct);
                Dispatch(new AgentWork.Start(vm.Id, start.Key, hostId, scheduled?.StartPaused ?? false, null, Recovered: true));
            }
            else if (vm.ResidentOn is not null && vm.PowerState is Domain.Vms.VmPowerState.Running or Domain.Vms.VmPowerState.Paused
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
    }
}
