using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Admin;

/// <summary>A bearer token as stored: only its SHA-256 hash, the subject it stands for and its role.</summary>
public sealed record ApiToken
{
    public string Id { get; set; } = "";
    public string Subject { get; init; } = "";
    public Role Role { get; init; }
    public DateTimeOffset Created { get; init; }
}

public sealed record Caller(string Subject, Role Role);

/// <summary>Issues and checks bearer tokens. Tokens are never stored or logged in clear.</summary>
public sealed class TokenStore(IDocumentStore store, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Caller> cache = new();

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public static string NewToken() => "xapi_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>"xapi_abcd…wxyz": enough to tell tokens apart in a log, useless to an attacker.</summary>
    public static string Mask(string token) => token.Length <= 12 ? "****" : $"{token[..9]}…{token[^4..]}";

    public async Task<Caller?> FindAsync(string token, CancellationToken ct)
    {
        var hash = Hash(token);
        if (cache.TryGetValue(hash, out var caller))
        {
            return caller;
        }

        await using var session = store.QuerySession();
        var stored = await session.LoadAsync<ApiToken>(hash, ct);
        if (stored is null)
        {
            return null;
        }

        caller = new Caller(stored.Subject, stored.Role);
        cache[hash] = caller;
        return caller;
    }

    public async Task SaveAsync(string token, string subject, Role role, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.Store(new ApiToken { Id = Hash(token), Subject = subject, Role = role, Created = time.GetUtcNow() });
        await session.SaveChangesAsync(ct);
        cache.TryRemove(Hash(token), out _);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

public static class CreateToken
{
    public sealed record Command(string? Subject, string? Role) : IRequest<Result>;

    public sealed record Result(string Token, string Subject, string Role);

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Subject).NotEmpty().InvalidValue("subject").MaximumLength(XapiRules.MaxNameLength).InvalidValue("subject");
            RuleFor(c => c.Role).Must(r => Roles.TryParse(r, out _))
                .Xapi(ErrorCodes.ValueNotSupported, (_, r) => ["role", r ?? "", "one of " + string.Join(", ", Roles.WireNames)]);
        }
    }

    public sealed class Handler(TokenStore tokens) : IRequestHandler<Command, Result>
    {
        public async Task<Result> Handle(Command request, CancellationToken cancellationToken)
        {
            Roles.TryParse(request.Role, out var role);
            var token = TokenStore.NewToken();
            await tokens.SaveAsync(token, request.Subject!, role, cancellationToken);
            return new Result(token, request.Subject!, role.ToWire());
        }
    }
}
