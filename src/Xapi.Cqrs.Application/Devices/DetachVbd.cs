using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vbds;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// DetachVbd (POST /api/vbds/{id}/detach): unplug if attached, then destroy. A detached VBD is destroyed at once
/// (<see cref="VbdDestroy"/>); an attached one is unplugged by the host of its VM, and the unplug's report destroys it in
/// the same commit (<see cref="VbdHotplug.Unplugged"/>), so it is never left detached-but-there after a success, nor
/// gone while still plugged after a failure (then it stays attached, and the answer is the unplug's error).
/// </summary>
public static class DetachVbd
{
    public sealed record Command(Guid VbdId) : IRequest<Result>;

    /// <summary>The VBD's VM, and the unplug's task when there was one to do (else the VBD is already destroyed).</summary>
    public sealed record Result(Guid VmId, Guid? TaskId);

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => RuleFor(c => c.VbdId).NotEmpty().InvalidValue("VBD");
    }

    public sealed class Handler(IDocumentSession session, IQuerySession reads, CommandContext context, TimeProvider time) : IRequestHandler<Command, Result>
    {
        public async Task<Result> Handle(Command c, CancellationToken ct)
        {
            var s = await DeviceStates.VbdAsync(reads, session, c.VbdId, null, ct);
            var taskId = Guid.NewGuid();
            var unplug = s.Vbd.CurrentlyAttached || s.Vbd.Reserved;
            var changes = unplug
                ? VbdHotplug.Decide(s.Vm, s.Vbd, s.Vdi, VbdOperation.Unplug, taskId, context.Subject, time.GetUtcNow(), thenDestroy: true)
                : VbdDestroy.Decide(s.Vm, s.Vbd, s.Vdi);
            await session.AppendAsync(changes, s.Set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return new Result(s.Vm.Id, unplug ? taskId : null);
        }
    }
}
