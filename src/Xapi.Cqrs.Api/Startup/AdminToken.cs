using Xapi.Cqrs.Application.Admin;

namespace Xapi.Cqrs.Api.Startup;

/// <summary>
/// The pool-admin token: Xapi:AdminToken if configured, else the one in &lt;data dir&gt;/admin.token, else a new
/// one written there (mode 600). Stored hashed; only a masked form is ever logged.
/// </summary>
public sealed class AdminToken(XapiOptions options, TokenStore tokens, ILogger<AdminToken> log) : IHostedService
{
    public const string FileName = "admin.token";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var token = options.AdminToken;
        var path = Path.GetFullPath(Path.Combine(options.DataDir, FileName));
        if (string.IsNullOrWhiteSpace(token))
        {
            if (File.Exists(path))
            {
                token = (await File.ReadAllTextAsync(path, cancellationToken)).Trim();
            }
            else
            {
                token = TokenStore.NewToken();
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllTextAsync(path, token + "\n", cancellationToken);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
            }

            log.LogInformation("admin token {Masked} is in {Path}", TokenStore.Mask(token), path);
        }
        else
        {
            log.LogInformation("admin token {Masked} from configuration (Xapi:AdminToken)", TokenStore.Mask(token));
        }

        if (await tokens.FindAsync(token, cancellationToken) is null)
        {
            await tokens.SaveAsync(token, "admin", Role.PoolAdmin, cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
