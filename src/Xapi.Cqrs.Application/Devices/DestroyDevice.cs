using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// DELETE /api/vbds/{id}, DELETE /api/vifs/{id}: VBD.destroy / VIF.destroy of a detached device (<see cref="VbdDestroy"/>,
/// <see cref="VifDestroy"/>); xapi's refusal while attached. Answers the device's VM.
/// </summary>
public static class DestroyDevice
{
    public sealed record Vbd(Guid VbdId) : IRequest<Guid>;

    public sealed record Vif(Guid VifId) : IRequest<Guid>;

    public sealed class VbdValidator : XapiValidator<Vbd>
    {
        public VbdValidator() => RuleFor(c => c.VbdId).NotEmpty().InvalidValue("VBD");
    }

    public sealed class VifValidator : XapiValidator<Vif>
    {
        public VifValidator() => RuleFor(c => c.VifId).NotEmpty().InvalidValue("VIF");
    }

    public sealed class Handler(IDocumentSession session, IQuerySession reads) : IRequestHandler<Vbd, Guid>, IRequestHandler<Vif, Guid>
    {
        public async Task<Guid> Handle(Vbd c, CancellationToken ct)
        {
            var s = await DeviceStates.VbdAsync(reads, session, c.VbdId, null, ct);
            await session.AppendAsync(VbdDestroy.Decide(s.Vm, s.Vbd, s.Vdi), s.Set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return s.Vm.Id;
        }

        public async Task<Guid> Handle(Vif c, CancellationToken ct)
        {
            var s = await DeviceStates.VifAsync(reads, session, c.VifId, null, ct);
            await session.AppendAsync(VifDestroy.Decide(s.Vm, s.Vif), s.Set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return s.Vm.Id;
        }
    }
}
