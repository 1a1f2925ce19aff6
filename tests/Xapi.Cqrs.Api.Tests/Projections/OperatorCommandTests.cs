using System.Diagnostics;
using Npgsql;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Projections;

/// <summary>
/// Marten's own command line, answered by the service binary for an operator working on the database with no server
/// running (`-- db-apply`, `-- projections list`): real processes on the test PostgreSQL.
/// </summary>
public sealed class OperatorCommandTests
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<(int Code, string Output)> RunAsync(string schema, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[ServiceProcess.ServiceDll(), .. args, $"--ConnectionStrings:EventStore={TestDatabase.ConnectionString}", $"--Xapi:Schema={schema}"])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["COLUMNS"] = "200";
        using var process = Process.Start(start)!;
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var error = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromMinutes(2), ct);
            return (process.ExitCode, await output + await error);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Db_apply_creates_the_store_and_projections_list_names_every_projection_without_a_server()
    {
        var schema = TestDatabase.NewSchema("cli");
        var (applied, applyOutput) = await RunAsync(schema, "db-apply");
        applied.ShouldBe(0, applyOutput);

        await using (var connection = new NpgsqlConnection(TestDatabase.ConnectionString))
        {
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand(
                "select count(*) from information_schema.tables where table_schema = @s and table_name in ('mt_events', 'mt_streams', 'mt_doc_vm', 'mt_doc_vmsnapshot')", connection);
            command.Parameters.AddWithValue("s", schema);
            ((long)(await command.ExecuteScalarAsync(ct))!).ShouldBe(4, applyOutput);
        }

        var (listed, list) = await RunAsync(schema, "projections", "list");
        listed.ShouldBe(0, list);
        list.ShouldContain("snapshots");
        list.ShouldContain("Async");
        list.ShouldContain("Inline");
    }
}
