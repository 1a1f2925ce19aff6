using System.Collections.Immutable;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// What the host agent reports while it starts a VM (§6), and how the start ends: each step an event on
/// the VM stream with the task's progress; then, in one transaction, resident_on with the power state,
/// the host's reservation turned into residency and the devices attached; then the completion that
/// removes every mark, succeeds the task, creates exactly one VM_STARTED message and pushes the RRD.
/// A failure instead releases the reservation and every mark, and fails the task with the xapi error.
/// </summary>
public static class StartOnHost
{
    /// <summary>A host-side step happened (DomainCreated, DomainBuilt, VbdPlugged …).</summary>
    public sealed record RecordStep(Guid VmId, Guid TaskId, object Event, double Progress, string Step) : IRequest<Unit>;

    /// <summary>The domain is complete: resident_on, power state, residency and devices in one step.</summary>
    public sealed record BecomeResident(Guid VmId, Guid TaskId, Guid HostId, long Domid, VmPowerState PowerState,
        IReadOnlyDictionary<Guid, string> PluggedVbds, IReadOnlyList<Guid> PluggedVifs) : IRequest<Unit>;

    /// <summary>Master-side completion after success (§3.1 steps 10–12).</summary>
    public sealed record Complete(Guid VmId, Guid TaskId) : IRequest<Unit>;

    /// <summary>The host side failed and destroyed what it built; undo the master side (§3.2).</summary>
    public sealed record Fail(Guid VmId, Guid TaskId, Guid HostId, string Code, IReadOnlyList<string> Params) : IRequest<Unit>;

    public sealed class Handler(IDocumentSession session, TimeProvider time) :
        IRequestHandler<RecordStep, Unit>, IRequestHandler<BecomeResident, Unit>, IRequestHandler<Complete, Unit>, IRequestHandler<Fail, Unit>
    {
        public async Task<Unit> Handle(RecordStep r, CancellationToken ct)
        {
            session.Events.Append(r.VmId, r.Event);
            session.Events.Append(r.TaskId, new TaskProgressed(r.Progress, r.Step));
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(BecomeResident r, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(r.VmId, ObjectClass.Vm, ct);
            var host = await session.WriteAsync<Host>(r.HostId, ObjectClass.Host, ct);
            var state = vm.Aggregate!;
            vm.AppendOne(new ResidentOnSet(r.TaskId, r.HostId, r.Domid, r.PowerState, state.VcpusAtStartup, time.GetUtcNow()));
            host.AppendOne(new VmResidentOnHost(r.VmId, r.TaskId, host.Aggregate!.Scheduled.GetValueOrDefault(r.VmId) ?? MemoryModel.Charge(state)));
            foreach (var (vbd, device) in r.PluggedVbds)
            {
                session.Events.Append(vbd, new VbdCurrentlyAttachedSet(true, device));
            }

            foreach (var vif in r.PluggedVifs)
            {
                session.Events.Append(vif, new VifCurrentlyAttachedSet(true));
            }

            session.Events.Append(r.TaskId, new TaskProgressed(0.9, "resident"));
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(Complete r, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(r.VmId, ObjectClass.Vm, ct);
            var task = await session.WriteAsync<XapiTask>(r.TaskId, ObjectClass.Task, ct);
            if (task.Aggregate!.IsFinished)
            {
                return Unit.Value; // reported twice: the first completion stands
            }

            var state = vm.Aggregate!;
            var hostId = state.ResidentOn!.Value;
            await Unmark(state, r.TaskId, hostId, releaseVdis: false, ct);
            var host = await session.LoadAsync<Host>(hostId, ct);
            var now = time.GetUtcNow();
            var messageId = Guid.NewGuid();
            session.Events.StartStream(messageId, new MessageCreated(
                messageId, MessageNames.VmStarted, 5, ObjectClass.Vm, state.Id,
                MessageNames.VmStartedBody(state.NameLabel, state.Id, host?.NameLabel ?? "", hostId), now));
            vm.AppendOne(new RrdPushed(r.TaskId, hostId, state.Domid));
            task.AppendOne(new TaskSucceeded(null, now));
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(Fail r, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(r.VmId, ObjectClass.Vm, ct);
            var task = await session.WriteAsync<XapiTask>(r.TaskId, ObjectClass.Task, ct);
            if (task.Aggregate!.IsFinished)
            {
                return Unit.Value;
            }

            var state = vm.Aggregate!;
            vm.AppendOne(new StartFailed(r.TaskId, r.HostId, r.Code, [.. r.Params]));
            if (state.ScheduledToBeResidentOn is { } scheduled)
            {
                vm.AppendOne(new ScheduledToBeResidentOnCleared(r.TaskId, scheduled));
            }

            var host = await session.WriteAsync<Host>(r.HostId, ObjectClass.Host, ct);
            if (host.Aggregate!.Scheduled.ContainsKey(r.VmId))
            {
                host.AppendOne(new VmUnscheduledFromHost(r.VmId, r.TaskId));
            }

            await Unmark(state, r.TaskId, r.HostId, releaseVdis: true, ct);
            task.AppendOne(new TaskFailed([r.Code, .. r.Params], time.GetUtcNow()));
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }

        /// <summary>Removes this task's entry from the VM, its VBDs and VIFs, and the host (every OperationAdded gets its OperationRemoved).</summary>
        private async Task Unmark(Vm vm, Guid taskId, Guid hostId, bool releaseVdis, CancellationToken ct)
        {
            if (vm.CurrentOperations.TryGetValue(taskId, out var op))
            {
                session.Events.Append(vm.Id, new OperationRemoved(taskId, op.ToWire(), ObjectClass.Vm));
            }

            var vbds = await session.LoadManyAsync<Vbd>(ct, vm.Vbds.Keys);
            foreach (var vbd in vbds)
            {
                if (vbd.CurrentOperations.TryGetValue(taskId, out var vop))
                {
                    session.Events.Append(vbd.Id, new OperationRemoved(taskId, vop.ToWire(), ObjectClass.Vbd));
                }
            }

            if (releaseVdis)
            {
                var vdis = await session.LoadManyAsync<Vdi>(ct, vbds.Where(v => v.VdiId is not null).Select(v => v.VdiId!.Value).Distinct());
                foreach (var vdi in vdis)
                {
                    foreach (var vbd in vbds.Where(v => vdi.Holders.ContainsKey(v.Id)))
                    {
                        session.Events.Append(vdi.Id, new VdiReleased(vbd.Id));
                    }
                }
            }

            foreach (var vif in await session.LoadManyAsync<Vif>(ct, vm.Vifs.Keys))
            {
                if (vif.CurrentOperations.TryGetValue(taskId, out var fop))
                {
                    session.Events.Append(vif.Id, new OperationRemoved(taskId, fop.ToWire(), ObjectClass.Vif));
                }
            }

            var host = await session.LoadAsync<Host>(hostId, ct);
            if (host?.CurrentOperations.TryGetValue(taskId, out var hop) == true)
            {
                session.Events.Append(hostId, new OperationRemoved(taskId, hop, ObjectClass.Host));
            }
        }
    }
}
