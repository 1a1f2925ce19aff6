using Marten;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Store;

namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>
/// Optimistic concurrency instead of xapi's global lock: when another command appended to a stream this
/// one read (same VM, same host …), SaveChanges fails and nothing of this command was written. The
/// command is then decided again from fresh state — for a start, that means re-planning the host. Each
/// retry runs the handler in a new scope (a new Marten session: the failed one is not reused), under the
/// same caller and correlation id.
/// </summary>
public sealed class ConcurrencyRetryBehavior<TRequest, TResponse>(
    IServiceScopeFactory scopes, IDocumentSession session, CommandContext context, ILogger<ConcurrencyRetryBehavior<TRequest, TResponse>> log)
    : IPipelineBehavior<TRequest, TResponse>
    where TRequest : IRequest<TResponse>
{
    public const int MaxAttempts = 12;

    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        try
        {
            return await next();
        }
        catch (Exception e) when (Conflicts.IsConcurrencyConflict(e))
        {
            // Nothing of the failed attempt may be saved later by another command of this scope.
            session.EjectAllPendingChanges();
            log.LogDebug("{Request}: concurrent change on a stream it read; deciding again", typeof(TRequest).Name);
        }

        for (var attempt = 2; ; attempt++)
        {
            await Task.Delay(Random.Shared.Next(1, 10 * attempt), cancellationToken);
            await using var scope = scopes.CreateAsyncScope();
            var fresh = scope.ServiceProvider.GetRequiredService<CommandContext>();
            fresh.Subject = context.Subject;
            fresh.CorrelationId = context.CorrelationId;
            fresh.CausationId = context.CausationId;
            var handler = scope.ServiceProvider.GetRequiredService<IRequestHandler<TRequest, TResponse>>();
            try
            {
                return await handler.Handle(request, cancellationToken);
            }
            catch (Exception e) when (Conflicts.IsConcurrencyConflict(e) && attempt < MaxAttempts)
            {
                log.LogDebug("{Request}: still conflicting (attempt {Attempt}); deciding again", typeof(TRequest).Name, attempt);
            }
            catch (Exception e) when (Conflicts.IsConcurrencyConflict(e))
            {
                // Never a 500 for a race: nothing of it was written, the client may retry.
                throw new ServiceBusyException($"{typeof(TRequest).Name} kept conflicting with concurrent changes", TimeSpan.FromSeconds(1));
            }
        }
    }
}

public static class Conflicts
{
    /// <summary>An append that lost an optimistic-concurrency race (expected version no longer current, stream id taken).</summary>
    public static bool IsConcurrencyConflict(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is JasperFx.ConcurrencyException
                || e.GetType().Name is "EventStreamUnexpectedMaxEventIdException" or "ExistingStreamIdCollisionException" or "ConcurrentUpdateException")
            {
                return true;
            }
        }

        return false;
    }
}
