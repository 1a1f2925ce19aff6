using Marten;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>The member side of VM.unpause: Xen unpause of the VM's domain on its resident host.</summary>
public sealed class UnpauseSequence(LocalAgents agents, IQuerySession session, Func<string, AgentCommands> commandsAs)
{
    public async Task RunAsync(AgentWork.Unpause work, CancellationToken ct)
    {
        var vm = await session.LoadAsync<Vm>(work.VmId, ct);
        if (vm is null || !vm.CurrentOperations.ContainsKey(work.TaskId) || vm.ResidentOn is not { } hostId)
        {
            return;
        }

        var host = await session.LoadAsync<Host>(hostId, ct);
        if (host is null || agents.HypervisorFor(host) is not { } hypervisor)
        {
            return;
        }

        var commands = commandsAs($"host-agent:{host.NameLabel}");
        try
        {
            await hypervisor.UnpauseAsync(vm.Id, ct);
            await commands.Send(new UnpauseVm.Done(vm.Id, work.TaskId, vm.Domid), ct);
        }
        catch (HypervisorException e)
        {
            await commands.Send(new UnpauseVm.Failed(vm.Id, work.TaskId, e.Code, e.Params), CancellationToken.None);
        }
        catch (XapiException e)
        {
            await commands.Send(new UnpauseVm.Failed(vm.Id, work.TaskId, e.Code, e.Params), CancellationToken.None);
        }
    }
}
