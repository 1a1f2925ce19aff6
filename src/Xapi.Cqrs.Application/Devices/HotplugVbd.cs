using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// VBD.plug and VBD.unplug (POST /api/vbds/{id}/plug, /unplug): the master marks the VBD and forwards the operation to
/// the VM's host (<see cref="VbdHotplug.Decide"/>); the agent of that host plugs or unplugs the device and reports
/// <see cref="Plugged"/>, <see cref="Unplugged"/> or <see cref="Failed"/>, or <see cref="Abandon"/> when it finds the
/// mark cleared before it could act. Each handler locks, loads, decides, appends and saves.
/// </summary>
public static class HotplugVbd
{
    /// <summary>Plug or unplug; <paramref name="ThenDestroy"/>: the unplug's report destroys the VBD too (DetachVbd).</summary>
    public sealed record Command(Guid VbdId, VbdOperation Operation, bool ThenDestroy = false) : IRequest<StartVm.Started>;

    public sealed record Plugged(Guid VbdId, Guid TaskId, string Device, DateTimeOffset? At = null, double? DurationMs = null) : IRequest<Unit>;

    public sealed record Unplugged(Guid VbdId, Guid TaskId, DateTimeOffset? At = null, double? DurationMs = null) : IRequest<Unit>;

    public sealed record Failed(Guid VbdId, Guid TaskId, string Code, IReadOnlyList<string> Params) : IRequest<Unit>;

    /// <summary>The task is pending but its mark is gone: end it with what §2.1 now says (<see cref="VbdHotplug.Interrupted"/>).</summary>
    public sealed record Abandon(Guid VbdId, Guid TaskId, VbdOperation Operation) : IRequest<Unit>;

    /// <summary>
    /// The operation was open past its deadline and its work stopped: the host found the device <paramref name="Plugged"/>
    /// or not, and the operation is finished or rolled back accordingly (<see cref="VbdHotplug.Abandoned"/>).
    /// </summary>
    public sealed record Expired(Guid VbdId, Guid TaskId, TimeSpan Deadline, bool Plugged, string Device) : IRequest<Unit>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.VbdId).NotEmpty().InvalidValue("VBD");
            RuleFor(c => c.Operation).Must(o => o is VbdOperation.Plug or VbdOperation.Unplug).InvalidValue("operation");
        }
    }

    public sealed class Handler(IDocumentSession session, IQuerySession reads, CommandContext context, TimeProvider time) :
        IRequestHandler<Command, StartVm.Started>, IRequestHandler<Plugged, Unit>, IRequestHandler<Unplugged, Unit>,
        IRequestHandler<Failed, Unit>, IRequestHandler<Abandon, Unit>, IRequestHandler<Expired, Unit>
    {
        public async Task<StartVm.Started> Handle(Command c, CancellationToken ct)
        {
            var s = await DeviceStates.VbdAsync(reads, session, c.VbdId, null, ct);
            var taskId = Guid.NewGuid();
            var changes = VbdHotplug.Decide(s.Vm, s.Vbd, s.Vdi, c.Operation, taskId, context.Subject, time.GetUtcNow(), c.ThenDestroy);
            await session.AppendAsync(changes, s.Set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return new StartVm.Started(taskId, s.Vm.Version);
        }

        public Task<Unit> Handle(Plugged r, CancellationToken ct) =>
            DecideAsync(r.VbdId, r.TaskId, s => VbdHotplug.Plugged(s.Vm, s.Vbd, s.Vdi, s.Task, r.TaskId, r.Device,
                new VbdPlugged(r.TaskId, r.VbdId, r.Device, s.Vbd.Mode.ToString(), r.At, r.DurationMs), time.GetUtcNow()), ct);

        public Task<Unit> Handle(Unplugged r, CancellationToken ct) =>
            DecideAsync(r.VbdId, r.TaskId, s => VbdHotplug.Unplugged(s.Vm, s.Vbd, s.Vdi, s.Task, r.TaskId,
                new VbdUnplugged(r.TaskId, r.VbdId, s.Vbd.Device, r.At, r.DurationMs), time.GetUtcNow()), ct);

        public Task<Unit> Handle(Failed r, CancellationToken ct) =>
            DecideAsync(r.VbdId, r.TaskId, s => VbdHotplug.Failed(s.Vm, s.Vbd, s.Vdi, s.Task, r.TaskId, r.Code, r.Params, time.GetUtcNow()), ct);

        public Task<Unit> Handle(Abandon r, CancellationToken ct) =>
            DecideAsync(r.VbdId, r.TaskId, s => VbdHotplug.Interrupted(s.Vm, s.Vbd, s.Vdi, s.Task, r.TaskId, r.Operation, time.GetUtcNow()), ct);

        public Task<Unit> Handle(Expired r, CancellationToken ct) =>
            DecideAsync(r.VbdId, r.TaskId, s => VbdHotplug.Abandoned(s.Vm, s.Vbd, s.Vdi, s.Task, r.TaskId, r.Deadline, r.Plugged, r.Device, time.GetUtcNow()), ct);

        private async Task<Unit> DecideAsync(Guid vbdId, Guid taskId, Func<VbdState, Domain.Streams.Changes> decide, CancellationToken ct)
        {
            var s = await DeviceStates.VbdAsync(reads, session, vbdId, taskId, ct);
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
