using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// VIF.plug and VIF.unplug (POST /api/vifs/{id}/plug, /unplug), in the shape of <see cref="HotplugVbd"/>: the master
/// marks and forwards (<see cref="VifHotplug.Decide"/>), the agent of the VM's host reports.
/// </summary>
public static class HotplugVif
{
    public sealed record Command(Guid VifId, VifOperation Operation) : IRequest<StartVm.Started>;

    public sealed record Plugged(Guid VifId, Guid TaskId, string Device, string Bridge, DateTimeOffset? At = null, double? DurationMs = null) : IRequest<Unit>;

    public sealed record Unplugged(Guid VifId, Guid TaskId, DateTimeOffset? At = null, double? DurationMs = null) : IRequest<Unit>;

    public sealed record Failed(Guid VifId, Guid TaskId, string Code, IReadOnlyList<string> Params) : IRequest<Unit>;

    /// <summary>The task is pending but its mark is gone: end it with what §2.2 now says (<see cref="VifHotplug.Interrupted"/>).</summary>
    public sealed record Abandon(Guid VifId, Guid TaskId, VifOperation Operation) : IRequest<Unit>;

    /// <summary>
    /// The operation was open past its deadline and its work stopped: the host found the device <paramref name="Plugged"/>
    /// or not, and the operation is finished or rolled back accordingly (<see cref="VifHotplug.Abandoned"/>).
    /// </summary>
    public sealed record Expired(Guid VifId, Guid TaskId, TimeSpan Deadline, bool Plugged, string Device) : IRequest<Unit>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.VifId).NotEmpty().InvalidValue("VIF");
            RuleFor(c => c.Operation).Must(o => o is VifOperation.Plug or VifOperation.Unplug).InvalidValue("operation");
        }
    }

    public sealed class Handler(IDocumentSession session, IQuerySession reads, CommandContext context, TimeProvider time) :
        IRequestHandler<Command, StartVm.Started>, IRequestHandler<Plugged, Unit>, IRequestHandler<Unplugged, Unit>,
        IRequestHandler<Failed, Unit>, IRequestHandler<Abandon, Unit>, IRequestHandler<Expired, Unit>
    {
        public async Task<StartVm.Started> Handle(Command c, CancellationToken ct)
        {
            var s = await DeviceStates.VifAsync(reads, session, c.VifId, null, ct);
            var taskId = Guid.NewGuid();
            var changes = VifHotplug.Decide(s.Vm, s.Vif, c.Operation, taskId, context.Subject, time.GetUtcNow());
            await session.AppendAsync(changes, s.Set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return new StartVm.Started(taskId, s.Vm.Version);
        }

        public Task<Unit> Handle(Plugged r, CancellationToken ct) =>
            DecideAsync(r.VifId, r.TaskId, s => VifHotplug.Plugged(s.Vm, s.Vif, s.Task, r.TaskId,
                new VifPlugged(r.TaskId, r.VifId, r.Device, r.Bridge, s.Vif.Mac, r.At, r.DurationMs), time.GetUtcNow()), ct);

        public Task<Unit> Handle(Unplugged r, CancellationToken ct) =>
            DecideAsync(r.VifId, r.TaskId, s => VifHotplug.Unplugged(s.Vm, s.Vif, s.Task, r.TaskId,
                new VifUnplugged(r.TaskId, r.VifId, s.Vif.Device, r.At, r.DurationMs), time.GetUtcNow()), ct);

        public Task<Unit> Handle(Failed r, CancellationToken ct) =>
            DecideAsync(r.VifId, r.TaskId, s => VifHotplug.Failed(s.Vif, s.Task, r.TaskId, r.Code, r.Params, time.GetUtcNow()), ct);

        public Task<Unit> Handle(Abandon r, CancellationToken ct) =>
            DecideAsync(r.VifId, r.TaskId, s => VifHotplug.Interrupted(s.Vm, s.Vif, s.Task, r.TaskId, r.Operation, time.GetUtcNow()), ct);

        public Task<Unit> Handle(Expired r, CancellationToken ct) =>
            DecideAsync(r.VifId, r.TaskId, s => VifHotplug.Abandoned(s.Vm, s.Vif, s.Task, r.TaskId, r.Deadline, r.Plugged, time.GetUtcNow()), ct);

        private async Task<Unit> DecideAsync(Guid vifId, Guid taskId, Func<VifState, Domain.Streams.Changes> decide, CancellationToken ct)
        {
            var s = await DeviceStates.VifAsync(reads, session, vifId, taskId, ct);
            var changes = decide(s);
            if (!changes.IsEmpty)
            {
                await session.AppendAsync(changes, s.Set.VersionOf, ct);
                await session.SaveChangesAsync(ct);
            }

            return Unit.Value;
        }
    }
}
