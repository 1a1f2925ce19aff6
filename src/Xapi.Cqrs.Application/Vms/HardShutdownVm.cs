using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// VM.hard_shutdown: the master marks the VM (<see cref="HardShutdownDecision.Decide"/>); the agent of its host
/// destroys the domain and reports <see cref="Done"/> or <see cref="Failed"/>. Each handler locks, loads,
/// decides, appends and saves.
/// </summary>
public static class HardShutdownVm
{
    public sealed record Command(Guid VmId) : IRequest<StartVm.Started>;

    public sealed record Done(Guid VmId, Guid TaskId, Guid HostId) : IRequest<MediatR.Unit>;

    public sealed record Failed(Guid VmId, Guid TaskId, string Code, IReadOnlyList<string> Params) : IRequest<MediatR.Unit>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => RuleFor(c => c.VmId).NotEmpty().InvalidValue("VM");
    }

    public sealed class Handler(IDocumentSession session, CommandContext context, TimeProvider time) :
        IRequestHandler<Command, StartVm.Started>, IRequestHandler<Done, MediatR.Unit>, IRequestHandler<Failed, MediatR.Unit>
    {
        public async Task<StartVm.Started> Handle(Command c, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [c.VmId], ct);
            var vm = set.DevicesOf(c.VmId).Vm;
            var taskId = Guid.NewGuid();
            var changes = HardShutdownDecision.Decide(vm, taskId, context.Subject, time.GetUtcNow());
            await session.AppendAsync(changes, set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return new StartVm.Started(taskId, vm.Version + changes.For(vm.Id).Count);
        }

        public async Task<MediatR.Unit> Handle(Done d, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [d.VmId], ct, hostIds: [d.HostId]);
            await session.AppendAsync(HardShutdownDecision.Done(set.DevicesOf(d.VmId), set.HostOf(d.HostId), d.TaskId, Guid.NewGuid(), time.GetUtcNow()), set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return MediatR.Unit.Value;
        }

        public async Task<MediatR.Unit> Handle(Failed f, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [f.VmId], ct);
            await session.AppendAsync(HardShutdownDecision.Failed(set.DevicesOf(f.VmId).Vm, f.TaskId, f.Code, f.Params, time.GetUtcNow()), set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return MediatR.Unit.Value;
        }
    }
}
