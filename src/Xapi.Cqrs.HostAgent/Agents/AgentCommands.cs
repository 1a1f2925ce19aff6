using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Xapi.Cqrs.Application.Store;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// How an agent reports: each command in a scope (and so a Marten session) of its own, as an HTTP request
/// is, under the agent's identity and the original request's correlation id. A command that failed or
/// was retried can never leave pending events or stale state for the next one.
/// </summary>
public sealed class AgentCommands(IServiceScopeFactory scopes, string subject, string correlationId, string? causationId)
{
    public AgentCommands(IServiceScopeFactory scopes, EventMetadata caller)
        : this(scopes, caller.Subject, caller.CorrelationId, caller.CausationId)
    {
    }

    /// <summary>Who this agent reports as, for a commit that carries several callers' events.</summary>
    public EventMetadata Caller { get; } = new(subject, correlationId, causationId);

    public async Task<T> Send<T>(IRequest<T> command, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<CommandContext>();
        context.Subject = subject;
        context.CorrelationId = correlationId;
        context.CausationId = causationId;
        return await scope.ServiceProvider.GetRequiredService<IMediator>().Send(command, ct);
    }
}
