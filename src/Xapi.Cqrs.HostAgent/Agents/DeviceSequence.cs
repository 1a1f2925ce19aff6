using Marten;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The member side of VBD.plug/unplug and VIF.plug/unplug on the VM's resident host (xenopsd <c>VBD_plug</c>,
/// <c>VBD_unplug</c>, <c>VIF_plug</c>, <c>VIF_unplug</c>; XAPI.md §6.7): write the device's frontend and backend and wait
/// for hotplug, or take them away, then report (<see cref="HotplugVbd"/>, <see cref="HotplugVif"/>). Every step is
/// idempotent, so work found open after a restart is simply run again: a plug first clears whatever a plug of this
/// device left in the domain (an unplug of a device that is not there does nothing) and plugs afresh; an unplug of a
/// device already gone is done. Work whose task has ended does nothing (delivered twice); work whose mark was cleared
/// before it ran (the VM halted) only ends its task. Any failure is reported with xapi's error, so the task always ends.
/// </summary>
public sealed class DeviceSequence(LocalAgents agents, IQuerySession session, Func<string, AgentCommands> commandsAs, TimeProvider time, ILogger log)
{
    public async Task RunAsync(AgentWork.Device work, CancellationToken ct)
    {
        var task = await session.LoadAsync<XapiTask>(work.TaskId, ct);
        if (task is null or { IsFinished: true })
        {
            return; // already ended
        }

        // No host: the VM runs nowhere any more (found at a restart), so there is at most a task to end.
        IHypervisor? hypervisor = null;
        var subject = "host-agent:reconcile";
        if (work.HostId != Guid.Empty)
        {
            if (await session.LoadAsync<Host>(work.HostId, ct) is not { } host || agents.HypervisorFor(host) is not { } hv)
            {
                return; // not a host this process drives
            }

            (hypervisor, subject) = (hv, $"host-agent:{host.NameLabel}");
        }

        var commands = commandsAs(subject);
        try
        {
            if (work.ObjectClass == ObjectClass.Vbd)
            {
                await VbdAsync(work, hypervisor, commands, ct);
            }
            else
            {
                await VifAsync(work, hypervisor, commands, ct);
            }
        }
        catch (XapiException e) when (e.Code == ErrorCodes.HandleInvalid)
        {
            log.LogDebug("{Class} {Device} is gone; its {Operation} ({Task}) has nothing left to report: {Error}", work.ObjectClass, work.DeviceId, work.Operation, work.TaskId, e.Message);
        }
    }

    private async Task VbdAsync(AgentWork.Device work, IHypervisor? hypervisor, AgentCommands commands, CancellationToken ct)
    {
        var op = VbdOperations.Parse(work.Operation);
        var vbd = await session.LoadAsync<Vbd>(work.DeviceId, ct);
        if (vbd is null)
        {
            return;
        }

        if (vbd.Destroyed || !vbd.CurrentOperations.TryGetValue(work.TaskId, out var marked) || marked != op)
        {
            await commands.Send(new HotplugVbd.Abandon(vbd.Id, work.TaskId, op), ct);
            return;
        }

        if (hypervisor is null)
        {
            return;
        }

        var started = time.GetTimestamp();
        try
        {
            // A plug first clears what an earlier, interrupted plug of this VBD may have left (nothing there: nothing done).
            await hypervisor.UnplugVbdAsync(work.VmId, vbd.Id, ct);
            if (op == VbdOperation.Plug)
            {
                var vdi = vbd.VdiId is { } vdiId && hypervisor.Kind == Hypervisor.Qemu.QemuHost.KindName ? await session.LoadAsync<Domain.Storage.Vdi>(vdiId, ct) : null;
                var plugged = await hypervisor.PlugVbdAsync(work.VmId, VbdSpec.FromVbd(vbd, vdi: vdi), ct);
                await commands.Send(new HotplugVbd.Plugged(vbd.Id, work.TaskId, plugged.Device, time.GetUtcNow(), Elapsed(started)), ct);
            }
            else
            {
                await commands.Send(new HotplugVbd.Unplugged(vbd.Id, work.TaskId, time.GetUtcNow(), Elapsed(started)), ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var (code, parameters) = Failure(e, work);
            await commands.Send(new HotplugVbd.Failed(vbd.Id, work.TaskId, code, parameters), CancellationToken.None);
        }
    }

    private async Task VifAsync(AgentWork.Device work, IHypervisor? hypervisor, AgentCommands commands, CancellationToken ct)
    {
        var op = VifOperations.Parse(work.Operation);
        var vif = await session.LoadAsync<Vif>(work.DeviceId, ct);
        if (vif is null)
        {
            return;
        }

        if (vif.Destroyed || !vif.CurrentOperations.TryGetValue(work.TaskId, out var marked) || marked != op)
        {
            await commands.Send(new HotplugVif.Abandon(vif.Id, work.TaskId, op), ct);
            return;
        }

        if (hypervisor is null)
        {
            return;
        }

        var started = time.GetTimestamp();
        try
        {
            await hypervisor.UnplugVifAsync(work.VmId, vif.Id, ct);
            if (op == VifOperation.Plug)
            {
                var bridge = await session.LoadAsync<Network>(vif.NetworkId, ct) is { Bridge.Length: > 0 } n ? n.Bridge : "xenbr0";
                var plugged = await hypervisor.PlugVifAsync(work.VmId, VifSpec.FromVif(vif, bridge), ct);
                await commands.Send(new HotplugVif.Plugged(vif.Id, work.TaskId, plugged.Device, bridge, time.GetUtcNow(), Elapsed(started)), ct);
            }
            else
            {
                await commands.Send(new HotplugVif.Unplugged(vif.Id, work.TaskId, time.GetUtcNow(), Elapsed(started)), ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var (code, parameters) = Failure(e, work);
            await commands.Send(new HotplugVif.Failed(vif.Id, work.TaskId, code, parameters), CancellationToken.None);
        }
    }

    /// <summary>
    /// An operation open past its deadline, whose work has been stopped: a plug is rolled back (the device unplugged, as a
    /// failed plug leaves nothing), an unplug left as the hypervisor has it; then the report says whether the device is
    /// plugged, and the decision finishes or rolls back the operation (<see cref="HotplugVbd.Expired"/>).
    /// </summary>
    public async Task ExpireAsync(AgentWork.DeviceDeadline work, CancellationToken ct)
    {
        if (await session.LoadAsync<Host>(work.HostId, ct) is not { } host || agents.HypervisorFor(host) is not { } hypervisor)
        {
            return;
        }

        var commands = commandsAs($"host-agent:{host.NameLabel}");
        log.LogWarning("{Operation} ({Task}) of {Class} {Device} is open past its deadline of {Deadline}: abandoned",
            work.Operation, work.OpenTask, work.ObjectClass, work.DeviceId, work.Deadline);
        if (work.ObjectClass == ObjectClass.Vbd)
        {
            if (await session.LoadAsync<Vbd>(work.DeviceId, ct) is not { } vbd || !vbd.CurrentOperations.TryGetValue(work.OpenTask, out var op))
            {
                return;
            }

            if (op == VbdOperation.Plug)
            {
                await RollBackAsync(() => hypervisor.UnplugVbdAsync(work.VmId, vbd.Id, CancellationToken.None), work);
            }

            var plugged = hypervisor.FindDomain(work.VmId)?.Vbds.Contains(vbd.Id) == true;
            var device = vbd.Device.Length > 0 ? vbd.Device : DeviceNames.XvdName(DeviceNames.Position(vbd.Userdevice, controlDomain: true) ?? 0);
            await commands.Send(new HotplugVbd.Expired(vbd.Id, work.OpenTask, work.Deadline, plugged, device), CancellationToken.None);
        }
        else
        {
            if (await session.LoadAsync<Vif>(work.DeviceId, ct) is not { } vif || !vif.CurrentOperations.TryGetValue(work.OpenTask, out var op))
            {
                return;
            }

            if (op == VifOperation.Plug)
            {
                await RollBackAsync(() => hypervisor.UnplugVifAsync(work.VmId, vif.Id, CancellationToken.None), work);
            }

            var plugged = hypervisor.FindDomain(work.VmId)?.Vifs.Contains(vif.Id) == true;
            await commands.Send(new HotplugVif.Expired(vif.Id, work.OpenTask, work.Deadline, plugged, vif.Device), CancellationToken.None);
        }
    }

    /// <summary>Undoes what a plug left; if that fails too, the device stays as it is and the report says so.</summary>
    private async Task RollBackAsync(Func<Task> unplug, AgentWork.DeviceDeadline work)
    {
        try
        {
            await unplug();
        }
        catch (HypervisorException e)
        {
            log.LogWarning("rolling back the {Operation} of {Class} {Device} failed: {Code}", work.Operation, work.ObjectClass, work.DeviceId, e.Code);
        }
    }

    /// <summary>What a failure is reported as: xapi's code and params (a cancellation is not one: the work stays open for recovery).</summary>
    private (string Code, IReadOnlyList<string> Params) Failure(Exception e, AgentWork.Device work)
    {
        switch (e)
        {
            case HypervisorException h:
                log.LogDebug("{Operation} of {Class} {Device} failed: {Code}", work.Operation, work.ObjectClass, work.DeviceId, h.Code);
                return (h.Code, h.Params);
            case XapiException x:
                return (x.Code, x.Params);
            default:
                log.LogError(e, "unexpected failure of {Operation} of {Class} {Device}", work.Operation, work.ObjectClass, work.DeviceId);
                return (ErrorCodes.InternalError, [e.GetType().Name + ": " + e.Message]);
        }
    }

    private double Elapsed(long started) => time.GetElapsedTime(started).TotalMilliseconds;
}
