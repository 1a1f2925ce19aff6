using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// VM.pause, unpause, clean_shutdown, hard_shutdown, clean_reboot and hard_reboot: the master marks the VM
/// (<see cref="PowerOperations.Begin"/>); the agent of its host drives the hypervisor and reports one of the
/// outcomes below. Each handler locks, loads, decides, appends and saves.
/// </summary>
public static class PowerOperationVm
{
    /// <summary>The operations these commands begin.</summary>
    public static readonly IReadOnlySet<VmOperation> Operations = new HashSet<VmOperation>
    {
        VmOperation.Pause, VmOperation.Unpause, VmOperation.CleanShutdown, VmOperation.HardShutdown, VmOperation.CleanReboot, VmOperation.HardReboot,
    };

    public sealed record Command(Guid VmId, VmOperation Operation) : IRequest<StartVm.Started>;

    public sealed record Paused(Guid VmId, Guid TaskId, Guid HostId, IReadOnlyList<IHostStep> Steps) : IRequest<Unit>;

    public sealed record Unpaused(Guid VmId, Guid TaskId, Guid HostId, IReadOnlyList<IHostStep> Steps) : IRequest<Unit>;

    public sealed record ShutDown(Guid VmId, Guid TaskId, Guid HostId, VmOperation Operation, IReadOnlyList<IHostStep> Steps) : IRequest<Unit>;

    public sealed record Rebooted(Guid VmId, Guid TaskId, Guid HostId, VmOperation Operation, long Domid,
        IReadOnlyDictionary<Guid, string> Vbds, IReadOnlyCollection<Guid> Vifs, IReadOnlyList<IHostStep> Steps) : IRequest<Unit>;

    public sealed record Failed(Guid VmId, Guid TaskId, Guid? HostId, VmOperation Operation, string Code, IReadOnlyList<string> Params,
        IReadOnlyList<IHostStep> Steps, bool DomainGone) : IRequest<Unit>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.VmId).NotEmpty().InvalidValue("VM");
            RuleFor(c => c.Operation).Must(Operations.Contains).InvalidValue("operation");
        }
    }

    public sealed class Handler(IDocumentSession session, CommandContext context, TimeProvider time) :
        IRequestHandler<Command, StartVm.Started>, IRequestHandler<Paused, Unit>, IRequestHandler<Unpaused, Unit>, IRequestHandler<ShutDown, Unit>,
        IRequestHandler<Rebooted, Unit>, IRequestHandler<Failed, Unit>
    {
        public async Task<StartVm.Started> Handle(Command c, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [c.VmId], ct);
            var vm = set.DevicesOf(c.VmId).Vm;
            var taskId = Guid.NewGuid();
            var changes = PowerOperations.Begin(vm, c.Operation, taskId, context.Subject, time.GetUtcNow());
            await session.AppendAsync(changes, set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return new StartVm.Started(taskId, vm.Version + changes.For(vm.Id).Count);
        }

        public async Task<Unit> Handle(Paused p, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [p.VmId], ct, hostIds: [p.HostId]);
            await Save(set, PowerOperations.Paused(set.DevicesOf(p.VmId).Vm, set.HostOf(p.HostId), p.TaskId, p.Steps, Guid.NewGuid(), time.GetUtcNow()), ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(Unpaused u, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [u.VmId], ct, hostIds: [u.HostId]);
            await Save(set, PowerOperations.Unpaused(set.DevicesOf(u.VmId).Vm, set.HostOf(u.HostId), u.TaskId, u.Steps, Guid.NewGuid(), time.GetUtcNow()), ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(ShutDown s, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [s.VmId], ct, hostIds: [s.HostId]);
            await Save(set, PowerOperations.ShutDown(set.DevicesOf(s.VmId), set.HostOf(s.HostId), s.Operation, s.TaskId, s.Steps, Guid.NewGuid(), time.GetUtcNow()), ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(Rebooted r, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [r.VmId], ct, hostIds: [r.HostId]);
            if (set.HostOf(r.HostId) is not { } host)
            {
                return Unit.Value;
            }

            await Save(set, PowerOperations.Rebooted(set.DevicesOf(r.VmId), host, r.Operation, r.TaskId, r.Domid, r.Vbds, r.Vifs, r.Steps, Guid.NewGuid(), time.GetUtcNow()), ct);
            return Unit.Value;
        }

        public async Task<Unit> Handle(Failed f, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [f.VmId], ct, hostIds: f.HostId is { } h ? [h] : []);
            await Save(set, PowerOperations.Failed(set.DevicesOf(f.VmId), set.HostOf(f.HostId), f.Operation, f.TaskId, f.Code, f.Params, f.Steps, f.DomainGone, time.GetUtcNow()), ct);
            return Unit.Value;
        }

        private async Task Save(WriteSet set, Domain.Streams.Changes changes, CancellationToken ct)
        {
            await session.AppendAsync(changes, set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
        }
    }
}
