using System.Collections.Concurrent;
using Marten;
using MediatR;
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
public sealed class LocalAgents(IServiceScopeFactory scopes, HypervisorRegistry registry, TimeProvider time, ILogger<LocalAgents> log)
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
            var context = scope.ServiceProvider.GetRequiredService<CommandContext>();
            context.CorrelationId = work.CorrelationId ?? context.CorrelationId;
            context.CausationId = work.TaskId.ToString();
            var session = scope.ServiceProvider.GetRequiredService<IQuerySession>();
            var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
            switch (work)
            {
                case AgentWork.Start start:
                    var host = await session.LoadAsync<Host>(start.HostId, stopping.Token);
                    if (host is null || HypervisorFor(host) is not { } hypervisor)
                    {
                        return; // not a host this process drives
                    }

                    context.Subject = $"host-agent:{host.NameLabel}";
                    await new StartSequence(hypervisor, session, mediator, log).RunAsync(start, stopping.Token);
                    break;
                case AgentWork.Unpause unpause:
                    await new UnpauseSequence(this, session, mediator, context).RunAsync(unpause, stopping.Token);
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

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        await Task.WhenAll(running.Values).WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }
}
