using System.Text.Encodings.Web;
using System.Text.Json;
using Spectre.Console;

namespace Xapi.Cqrs.Cli;

/// <summary>The exit codes, documented in --help (<see cref="Table"/>) and in the README.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;       // the server answered with an error (problem+json), a task failed, or a name did not resolve
    public const int Usage = 2;        // bad arguments, no token
    public const int Unreachable = 3;  // no answer from the server
    public const int Denied = 4;       // 401 / 403
    public const int Cancelled = 130;  // Ctrl+C

    public static readonly (int Code, string Meaning)[] Table =
    [
        (Ok, "done"),
        (Failed, "the server refused (its code and params are printed), a task failed, or a name matched no object or several"),
        (Usage, "bad arguments or options, or no token"),
        (Unreachable, "the server did not answer (not running, wrong --server, timeout)"),
        (Denied, "the token was refused (401) or its role may not do this (403 RBAC_PERMISSION_DENIED)"),
        (Cancelled, "interrupted (Ctrl+C)"),
    ];
}

/// <summary>A task the CLI followed ended in failure: its errorInfo is [code, params…] as xapi reports it.</summary>
internal sealed class TaskFailedException(TaskView task) : Exception($"task {task.Id} {task.Status}")
{
    public TaskView Task { get; } = task;
}

/// <summary>Where the CLI writes and how it reads its environment; tests pass their own so the process stays untouched.</summary>
/// <param name="Interactive">Draw live progress bars: null detects the terminal; tests say yes or no.</param>
internal sealed record CliIo(TextWriter Out, TextWriter Error, Func<string, string?> Environment, bool? Interactive = null)
{
    public static CliIo Process() => new(Console.Out, Console.Error, System.Environment.GetEnvironmentVariable);
}

/// <summary>A failure the CLI detects itself (an ambiguous name, say): message and exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// One command's run: a client for the chosen server and token, and where to print. <see cref="RunAsync"/> is the one
/// place that turns every failure into a short message and an exit code.
/// </summary>
internal sealed record Session(XapiClient Client, IAnsiConsole Console, TextWriter Out, TextWriter Error, bool Json)
{
    private static readonly JsonSerializerOptions ParamsJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>--json prints the server's body untouched; otherwise <paramref name="render"/> draws it for people.</summary>
    public void Print<T>(Reply<T> reply, Action<T> render)
    {
        if (Json)
        {
            if (reply.Json.Length > 0)
            {
                Out.WriteLine(reply.Json); // an answer without a body (destroy) prints nothing
            }
        }
        else
        {
            render(reply.Value);
        }
    }

    public Task<string> ResolveVmAsync(string vm, CancellationToken ct) =>
        ResolveAsync<Vm>("api/vms", "VM", vm, v => v.Id, v => v.NameLabel, ct);

    public Task<string> ResolveHostAsync(string host, CancellationToken ct) =>
        ResolveAsync<Host>("api/hosts", "host", host, h => h.Id, h => h.NameLabel, ct);

    public Task<string> ResolveVdiAsync(string vdi, CancellationToken ct) =>
        ResolveAsync<Vdi>("api/vdis", "VDI", vdi, v => v.Id, v => v.NameLabel, ct);

    public Task<string> ResolveNetworkAsync(string network, CancellationToken ct) =>
        ResolveAsync<Network>("api/networks", "network", network, n => n.Id, n => n.NameLabel, ct);

    /// <summary>Every host's name by id, to show names beside ids.</summary>
    public async Task<IReadOnlyDictionary<string, string>> HostNamesAsync(CancellationToken ct) =>
        (await Client.GetAsync<List<Host>>("api/hosts", ct)).Value.ToDictionary(h => h.Id, h => h.NameLabel);

    /// <summary>Best effort: the host's name for a message, or null.</summary>
    public async Task<string?> TryHostNameAsync(string hostId, CancellationToken ct) =>
        (await TryGetAsync<Host>($"api/hosts/{Uri.EscapeDataString(hostId)}", ct))?.NameLabel;

    /// <summary>Best effort: the VM's name for a message, or null.</summary>
    public async Task<string?> TryVmNameAsync(string vmId, CancellationToken ct) =>
        (await TryGetAsync<Vm>($"api/vms/{Uri.EscapeDataString(vmId)}", ct))?.NameLabel;

    /// <summary>Best effort: a record to say more about what a command did, or null if the server will not give it.</summary>
    public async Task<T?> TryGetAsync<T>(string path, CancellationToken ct) where T : class
    {
        try
        {
            return (await Client.GetAsync<T>(path, ct)).Value;
        }
        catch (XapiProblemException)
        {
            return null; // the command itself succeeded; a missing detail is not worth failing for
        }
    }

    /// <summary>A uuid is used as given (the server says HANDLE_INVALID if it is unknown); anything else must be exactly one name label.</summary>
    private async Task<string> ResolveAsync<T>(
        string path, string kind, string uuidOrName, Func<T, string> id, Func<T, string> name, CancellationToken ct)
    {
        if (Guid.TryParse(uuidOrName, out _))
        {
            return uuidOrName;
        }
        var matches = (await Client.GetAsync<List<T>>(path, ct)).Value.Where(x => name(x) == uuidOrName).Select(id).ToList();
        return matches switch
        {
            [var only] => only,
            [] => throw new CliException(ExitCodes.Failed, $"no {kind} is named '{uuidOrName}'"),
            _ => throw new CliException(ExitCodes.Failed,
                $"{matches.Count} {kind}s are named '{uuidOrName}' ({string.Join(", ", matches)}): give the uuid"),
        };
    }

    /// <summary>Settings first (server, token: option, then environment, then default), then the body; every failure becomes a message.</summary>
    public static async Task<int> RunAsync(
        CliIo io, IAnsiConsole console, string? serverOption, string? tokenOption, bool json,
        Func<Session, Task> body, CancellationToken ct)
    {
        var serverText = NonEmpty(serverOption) ?? NonEmpty(io.Environment("XAPI_SERVER")) ?? Program.DefaultServer;
        if (!Uri.TryCreate(serverText.TrimEnd('/') + "/", UriKind.Absolute, out var server) || server.Scheme is not ("http" or "https"))
        {
            return Fail(io, ExitCodes.Usage, $"--server (or XAPI_SERVER) must be an http(s) URL, not '{serverText}'");
        }
        var token = NonEmpty(tokenOption) ?? NonEmpty(io.Environment("XAPI_TOKEN"));
        if (token is null)
        {
            return Fail(io, ExitCodes.Usage, "no token given: pass --token or set XAPI_TOKEN (the admin token is in the server's data dir, admin.token)");
        }

        var url = server.ToString().TrimEnd('/');
        using var client = new XapiClient(server, token);
        try
        {
            await body(new Session(client, console, io.Out, io.Error, json));
            return ExitCodes.Ok;
        }
        catch (XapiProblemException e)
        {
            return Report(io, e.Problem);
        }
        catch (TaskFailedException e)
        {
            return ReportTask(io, e.Task);
        }
        catch (HttpRequestException e)
        {
            var reason = e.InnerException is { } inner && !e.Message.Contains(inner.Message, StringComparison.Ordinal)
                ? $"{e.Message} {inner.Message}"
                : e.Message;
            return Fail(io, ExitCodes.Unreachable, $"cannot reach the Xapi.Cqrs server at {url}: {reason}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail(io, ExitCodes.Unreachable, $"cannot reach the Xapi.Cqrs server at {url}: no answer in time");
        }
        catch (OperationCanceledException)
        {
            return Fail(io, ExitCodes.Cancelled, "cancelled");
        }
        catch (JsonException e)
        {
            return Fail(io, ExitCodes.Failed, $"the server at {url} answered JSON the CLI does not understand: {e.Message}");
        }
        catch (CliException e)
        {
            return Fail(io, e.ExitCode, e.Message);
        }
        catch (Exception e)
        {
            return Fail(io, ExitCodes.Failed, $"unexpected {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>401 has one fixed hint; anything with a code shows code, params, detail and validation errors.</summary>
    private static int Report(CliIo io, Problem p)
    {
        if (p.Status == 401)
        {
            return Fail(io, ExitCodes.Denied, "the server refused the token (401): set --token or XAPI_TOKEN");
        }
        var lines = new List<string>();
        if (p.Code is null && p.Status != 403)
        {
            var text = (p.Body.Length > 300 ? p.Body[..300] + "…" : p.Body).Trim();
            lines.Add($"the server answered {p.Status} {p.Reason}{(text.Length > 0 ? ": " + text : "")}");
        }
        else
        {
            lines.Add($"{p.Code ?? "RBAC_PERMISSION_DENIED"} (HTTP {p.Status})");
            lines.Add($"params: [{string.Join(", ", p.Params.Select(x => JsonSerializer.Serialize(x, ParamsJson)))}]");
            if (p.Detail is { Length: > 0 } detail)
            {
                lines.Add($"detail: {detail}");
            }
            if (p.Errors.Count > 0)
            {
                lines.Add("errors:");
                lines.AddRange(p.Errors.Select(e => $"  {e.Key}: {string.Join(" ", e.Value)}"));
            }
        }
        return Fail(io, p.Status == 403 ? ExitCodes.Denied : ExitCodes.Failed, string.Join(Environment.NewLine, lines));
    }

    /// <summary>A failed (or cancelled) task: "CODE (task uuid failed)" and its params, as for an answer's problem.</summary>
    private static int ReportTask(CliIo io, TaskView task)
    {
        var info = task.ErrorInfo ?? [];
        var code = info.Count > 0 ? info[0] : task.Status.ToUpperInvariant();
        var lines = new List<string>
        {
            $"{code} (task {task.Id} {(task.Status == "failure" ? "failed" : task.Status)})",
            $"params: [{string.Join(", ", info.Skip(1).Select(x => JsonSerializer.Serialize(x, ParamsJson)))}]",
        };
        return Fail(io, ExitCodes.Failed, string.Join(Environment.NewLine, lines));
    }

    private static int Fail(CliIo io, int exitCode, string message)
    {
        io.Error.WriteLine($"error: {message}");
        return exitCode;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
