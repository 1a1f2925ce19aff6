using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Domain.Networks;

namespace Xapi.Cqrs.Application.Inventory;

public static class CreateNetwork
{
    public sealed record Command(string? NameLabel, string? Bridge) : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.NameLabel).NameLabel();
            // Linux interface names: at most 15 characters, no '/' or whitespace.
            RuleFor(c => c.Bridge!).Matches("^[A-Za-z0-9_.-]{1,15}$").InvalidValue("bridge").When(c => c.Bridge is not null);
        }
    }

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command request, CancellationToken cancellationToken)
        {
            var id = Guid.NewGuid();
            var bridge = request.Bridge ?? $"xapi{id.ToString("N")[..8]}";
            session.Events.StartStream<Network>(id, new NetworkCreated(id, request.NameLabel!, bridge));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }
    }
}
